"""An int8 copy of a pipeline's encoder: ONNX export, then ONNX Runtime's dynamic quantisation.

Dynamic quantisation stores the weights of every MatMul (and the embedding table) as int8 and
quantises activations per batch at run time, so it needs no calibration data; on CPUs with
VNNI the int8 dot products are native. ONNX Runtime's `quantize_dynamic` is the maintained
route (`torch.ao.quantization` is deprecated). The quantised model is stored in the
transformer's own file beside the fp32 weights (ZhHFShim.int8_model): the pipeline folder and
its wheel carry it, and `precision = "auto"` or `"int8"` runs it. ONNX is a protobuf: loading
it runs no code.
"""

import tempfile
from pathlib import Path

from ..components.transformer import ZhHFShim
from ..io import OptionError, write_atomic

OPSET = 17
SAMPLE = "患者3天前出现发热、咳嗽，考虑社区获得性肺炎。"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # what a BERT-like encoder takes
MIN_COSINE = 0.98  # int8 hidden vectors agree with fp32 far above this (0.9997 measured)


class QuantizeError(OptionError):
    """The pipeline cannot have an int8 encoder: the message says why and what to do."""


def encoder_shim(nlp, pipe: str = "transformer") -> ZhHFShim:
    if pipe not in nlp.pipe_names:
        raise QuantizeError(f"the pipeline has no {pipe!r} component (it has {nlp.pipe_names})")
    shim = nlp.get_pipe(pipe).model.layers[0].shims[0]
    if not isinstance(shim, ZhHFShim):
        raise QuantizeError(
            f"{pipe!r} does not use zh_medner.TransformerModel.v1 (it has {type(shim).__name__}): "
            'set [components.transformer.model] @architectures = "zh_medner.TransformerModel.v1" '
            "and train or assemble the pipeline again"
        )
    return shim


def int8_onnx(model, tokenizer) -> bytes:
    """The encoder as a dynamically quantised ONNX model (last_hidden_state only)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    sample = tokenizer([SAMPLE, SAMPLE[:9]], padding=True, return_tensors="pt")
    names = [n for n in INPUTS if n in sample]

    class LastHidden(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = model

        def forward(self, *inputs):
            return self.encoder(**dict(zip(names, inputs))).last_hidden_state

    axes = {n: {0: "windows", 1: "positions"} for n in names + ["last_hidden_state"]}
    wrapper = LastHidden().eval()  # the exporter restores the wrapper's mode, and so the encoder's
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        torch.onnx.export(
            wrapper,
            tuple(sample[n] for n in names),
            str(fp32),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,  # the TorchScript exporter: no onnxscript needed, dynamic axes as given
        )
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
        return int8.read_bytes()


def agreement(shim: ZhHFShim, texts: list[str]) -> float:
    """The smallest cosine similarity between int8 and fp32 hidden vectors over `texts`."""
    import torch

    batch = shim._hfmodel.tokenizer(texts, padding=True, return_tensors="pt")
    part = {k: v for k, v in batch.items() if k in INPUTS}
    shim._model.eval()  # a loaded pipeline's encoder is in training mode: dropout on
    with torch.no_grad():
        ref = shim._forward(part, "fp32")
        got = shim._forward(part, "int8")
    keep = batch["attention_mask"].bool()
    return float(torch.nn.functional.cosine_similarity(ref[keep], got[keep], dim=-1).min())


def add_int8_encoder(pipeline: Path, pipe: str = "transformer") -> dict:
    """Quantise the pipeline folder's encoder and store it in its transformer file, in place."""
    import spacy

    pipeline = Path(pipeline)
    target = pipeline / pipe / "model"
    if not target.is_file():
        raise QuantizeError(f"{pipeline}: no {pipe}/model file; is this a spaCy pipeline folder?")
    nlp = spacy.load(pipeline, config={f"components.{pipe}.model.precision": "fp32"})
    shim = encoder_shim(nlp, pipe)
    shim.int8_model = int8_onnx(shim._model, shim._hfmodel.tokenizer)
    shim._session = None
    cosine = agreement(shim, [SAMPLE, "否认高血压、糖尿病病史。", "血常规：白细胞 12.3×10^9/L"])
    if cosine < MIN_COSINE:
        raise QuantizeError(
            f"{pipeline}: the int8 encoder disagrees with fp32 (smallest cosine {cosine:.3f} < "
            f"{MIN_COSINE}); nothing was written. Run the pipeline with precision fp32 or bf16."
        )
    model = nlp.get_pipe(pipe).model
    write_atomic(target, lambda tmp: Path(tmp).write_bytes(model.to_bytes()))
    return {"int8_bytes": len(shim.int8_model), "min_cosine": round(cosine, 4)}
