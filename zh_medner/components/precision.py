"""Which arithmetic the encoder runs in on this CPU: fp32, bf16 or int8.

- `bf16`: in training, the forward runs under `torch.autocast("cpu", dtype=torch.bfloat16)`
  (weights, gradients and the optimizer stay fp32); in prediction, a bf16 copy of the weights
  runs (no casts per call: 3.0x fp32 against 2.3x for autocast on a 64-window forward, one
  thread). Fast where the CPU has AVX512-BF16 or AMX.
- `int8`: dynamic int8 quantisation through ONNX Runtime; inference only. Its int8 kernels
  use VNNI where the CPU has it, else AVX2 (2x torch fp32 per forward on an AVX2-only EPYC).
- `auto`: the fastest this CPU supports well, `fp32` where none of these is present.

The CPU features are read from torch at run time (`cpu_features`), so a wheel built on one
machine picks the right path on another. This file is shipped in the wheel: it imports
nothing from `zh_medner`.
"""

import contextlib

PRECISIONS = ("auto", "fp32", "bf16", "int8")
# What `auto` picks, fastest first, each with the CPU feature it needs (docs/results.md).
AUTO_ORDER = (("bf16", "bf16"), ("int8", "int8"), ("fp32", None))


def _probe(name: str) -> bool:
    import torch

    check = getattr(torch.cpu, name, None)  # private probes: absent in some torch builds
    try:
        return bool(check()) if check is not None else False
    except Exception:  # noqa: BLE001 - an unknown CPU is a CPU without the feature
        return False


def cpu_features() -> dict[str, bool]:
    """{'bf16': fast bf16 matmuls (AVX512-BF16 or AMX), 'int8': fast int8 dot products
    (VNNI, or AVX2's multiply-add)}."""
    return {
        "bf16": _probe("_is_avx512_bf16_supported") or _probe("_is_amx_tile_supported"),
        "int8": _probe("_is_vnni_supported") or _probe("_is_avx2_supported"),
    }


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    return precision


def resolve_precision(
    precision: str,
    features: dict[str, bool] | None = None,
    available: frozenset[str] | set[str] = frozenset({"fp32", "bf16"}),
) -> str:
    """The precision to run: `auto` becomes the first of AUTO_ORDER that this CPU supports and
    the model has (`available`: int8 needs an exported model), and an explicit `bf16` without
    CPU support falls back to fp32 (autocast would emulate it slowly)."""
    check_precision(precision)
    features = cpu_features() if features is None else features
    if precision == "auto":
        return next(
            p
            for p, need in AUTO_ORDER
            if p in available | {"fp32"} and (need is None or features.get(need))
        )
    if precision == "bf16" and not features.get("bf16"):
        return "fp32"
    return precision


def autocast(precision: str):
    """The context the encoder's torch forward runs in for a resolved precision."""
    if precision == "bf16":
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def available_precisions(int8_model: bytes | None) -> set[str]:
    """The precisions a pipeline can run: fp32 and bf16, and int8 where its encoder has a
    quantised model (`zh-medner export`) and onnxruntime is installed."""
    found = {"fp32", "bf16"}
    if int8_model:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return found
        found.add("int8")
    return found


def int8_session(int8_model: bytes, threads: int):
    """An ONNX Runtime session of the quantised encoder on `threads` threads (made from the
    bytes the pipeline carries: nothing unpickled)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(int8_model, options, providers=["CPUExecutionProvider"])


def fp32_outputs(output, precision: str):
    """Every output of a forward run in `precision`, in fp32 (numpy has no bf16)."""
    if precision != "fp32":
        for key, value in list(output.items()):
            if isinstance(value, tuple):
                output[key] = tuple(t.float() for t in value)
            elif value is not None and value.is_floating_point():
                output[key] = value.float()
    return output
