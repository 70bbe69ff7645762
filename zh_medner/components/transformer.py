"""`zh_medner.TransformerModel.v1`: spacy-transformers' TransformerModel.v3 with an encoder shim
that predicts in length buckets and in a chosen precision.

Its forward aligns wordpieces to spaCy tokens in numpy, and the encoder reads 。 for a line
break and ， for a space beside a Chinese character (`line_break`, `space`; char_align.py).
`ZhHFShim`, an `HFShim` subclass, adds:
- at prediction, a batch's windows sorted by length and run `max_windows` at a time, each
  slice trimmed to its longest window: a short note no longer pays for the longest window in
  its batch, and a 100,000-character record does not run 1,000 windows in one forward;
- `precision` (see precision.py): fp32, bf16 (a bf16 copy of the weights, made at the first
  prediction after the weights change), or int8 through ONNX Runtime, with the
  quantised encoder stored beside the weights (`zh-medner export` adds it); and
  `training_precision` for the forward in training (fp32, bf16 or auto; weights stay fp32);
- `adversarial_epsilon`: FGM in training (adversarial.py);
- the state as safetensors, loaded without unpickling, and the config's exact floats
  (hf_state.py).

This file is shipped in the wheel: it imports nothing from `zh_medner` but its siblings.
"""

import os
import warnings
from pathlib import Path

import srsly
from spacy.util import SimpleFrozenDict, registry
from spacy_transformers.data_classes import HFObjects
from spacy_transformers.layers.hf_shim import HFShim
from spacy_transformers.layers.transformer_model import TransformerModel

try:
    from . import precision as _p
    from .adversarial import fgm_backprop
    from .char_align import EncoderText
    from .char_align import forward as char_forward
    from .hf_state import read_config_and_tokenizer, state_from_bytes, state_to_bytes
    from .roformer_fast import encode, forget
except ImportError:  # `spacy package` imports each code file alone, outside its package
    from spacy.util import import_file

    _p = import_file("precision", Path(__file__).with_name("precision.py"))
    _align = import_file("char_align", Path(__file__).with_name("char_align.py"))
    char_forward, EncoderText = _align.forward, _align.EncoderText
    _state = import_file("hf_state", Path(__file__).with_name("hf_state.py"))
    read_config_and_tokenizer = _state.read_config_and_tokenizer
    state_from_bytes, state_to_bytes = _state.state_from_bytes, _state.state_to_bytes
    fgm_backprop = import_file(
        "adversarial", Path(__file__).with_name("adversarial.py")
    ).fgm_backprop
    _fast = import_file("roformer_fast", Path(__file__).with_name("roformer_fast.py"))
    encode, forget = _fast.encode, _fast.forget
autocast, check_precision, cpu_features = _p.autocast, _p.check_precision, _p.cpu_features
available_precisions, fp32_outputs = _p.available_precisions, _p.fp32_outputs
int8_session, resolve_precision = _p.int8_session, _p.resolve_precision


@registry.architectures("zh_medner.TransformerModel.v1")
def build_transformer_model(
    name: str,
    get_spans,
    tokenizer_config: dict = SimpleFrozenDict(),
    transformer_config: dict = SimpleFrozenDict(),
    precision: str = "auto",
    training_precision: str = "auto",
    max_windows: int = 64,
    adversarial_epsilon: float = 0.0,
    line_break: str = "。",
    space: str = "，",
):
    """TransformerModel.v3 whose encoder predicts in `precision` (auto, fp32, bf16, int8) and
    trains in `training_precision` (auto: bf16 where the CPU has it; fp32; bf16), `max_windows`
    windows per forward; `adversarial_epsilon` > 0 adds FGM in training (adversarial.py);
    `line_break` and `space`: what the encoder reads for a line break and for a space beside a
    Chinese character ("": nothing, upstream's; char_align.EncoderText)."""
    check_precision(precision)
    encoder_text = EncoderText(line_break, space)  # a bad one refused at load
    if check_precision(training_precision) == "int8":
        raise ValueError("training_precision 'int8': use fp32, bf16 or auto (int8 cannot train)")
    model = ZhTransformerModel(name, get_spans, dict(tokenizer_config), dict(transformer_config))
    model.encoder_text = encoder_text  # not in attrs: thinc would save it over the config's
    wrapper = model.layers[0]
    wrapper.shims[0] = ZhHFShim(
        wrapper.shims[0]._hfmodel,
        precision=precision,
        training_precision=training_precision,
        max_windows=max_windows,
        adversarial_epsilon=adversarial_epsilon,
    )
    return model


class ZhTransformerModel(TransformerModel):
    """TransformerModel whose forward aligns wordpieces to tokens in numpy (char_align.py)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._func = char_forward

    def copy(self):
        copied = super().copy()
        copied._func, copied.encoder_text = char_forward, getattr(self, "encoder_text", None)
        return copied


class ZhHFShim(HFShim):
    def __init__(
        self,
        hfmodel,
        *,
        precision="auto",
        training_precision="auto",
        max_windows=64,
        adversarial_epsilon=0.0,
    ):
        super().__init__(hfmodel, grad_scaler_config={})
        if adversarial_epsilon < 0:
            raise ValueError(f"adversarial_epsilon {adversarial_epsilon}: use 0 (off) or more")
        self.adversarial_epsilon = float(adversarial_epsilon)
        self.precision = check_precision(precision)
        self.training_precision = training_precision
        self.max_windows = max(1, int(max_windows))
        self.int8_model: bytes | None = None  # the quantised ONNX encoder, if exported
        self._session = None
        self._session_pid = None
        self._pid = os.getpid()
        self._bf16 = None  # (the fp32 model it copies, its bf16 copy) for prediction

    # ------------------------------------------------------------ precision

    def run_precision(self) -> str:
        """The precision prediction runs in, resolved for this CPU and this pipeline."""
        found = available_precisions(self.int8_model)
        if self.precision == "int8" and "int8" not in found:
            raise ValueError(
                "precision int8: this pipeline's encoder has no int8 model, or onnxruntime is "
                "not installed. Fix: `zh-medner export PIPELINE` (adds it), `pip install "
                "onnxruntime`, or load with precision fp32/bf16/auto."
            )
        return resolve_precision(self.precision, cpu_features(), found)

    def _one_thread_if_forked(self) -> None:
        """A process forked after torch ran with several threads (nlp.pipe(n_process=2)) hangs
        in its inherited OpenMP pool at its first parallel op: one thread per worker."""
        if os.getpid() != self._pid:
            import torch

            torch.set_num_threads(1)
            self._pid = os.getpid()

    def _int8_session(self):
        if self._session is None or self._session_pid != os.getpid():  # not across a fork
            import torch

            self._session = int8_session(self.int8_model, torch.get_num_threads())
            self._session_pid = os.getpid()
        return self._session

    def finish_update(self, optimizer):
        """The step changes the weights: what prediction made of them is made again, the bf16
        copy and the stacked attention weights (thinc's optimizer writes where torch's version
        counts do not see it)."""
        super().finish_update(optimizer)
        self._bf16 = None
        forget(self._model)

    def _bf16_model(self):
        """A bf16 copy of the encoder for prediction, made again after a training step or a
        load (either replaces or changes the fp32 weights)."""
        if self._bf16 is None or self._bf16[0] is not self._model:
            import copy

            import torch

            self._bf16 = (self._model, copy.deepcopy(self._model).to(torch.bfloat16).eval())
        return self._bf16[1]

    # ------------------------------------------------------------ forward

    def begin_update(self, inputs):
        precision = resolve_precision(self.training_precision)
        with autocast(precision):
            output, backprop = super().begin_update(inputs)
        output = fp32_outputs(output, precision)
        if self.adversarial_epsilon > 0:

            def forward(again):
                with autocast(precision):
                    return fp32_outputs(self._model(*again.args, **again.kwargs), precision)

            backprop = fgm_backprop(
                self, inputs, output, backprop, self.adversarial_epsilon, forward
            )
        return output, backprop

    def predict(self, inputs):
        from transformers.modeling_outputs import BaseModelOutput

        kwargs = inputs.kwargs
        ids, mask = kwargs.get("input_ids"), kwargs.get("attention_mask")
        if inputs.args or ids is None or mask is None or ids.dim() != 2:
            return super().predict(inputs)
        precision = self.run_precision()
        self._one_thread_if_forked()
        self._model.eval()
        try:
            hidden = self._predict_buckets(kwargs, ids, mask, precision)
        finally:
            self._model.train()
        return BaseModelOutput(last_hidden_state=hidden)

    def _predict_buckets(self, kwargs, ids, mask, precision):
        import torch

        n, seq = ids.shape
        if n == 0:  # a batch of empty texts: no windows
            return torch.zeros((0, seq, self._model.config.hidden_size), dtype=torch.float32)
        lengths = mask.sum(1)
        order = torch.argsort(lengths, descending=True, stable=True)
        out = None
        for start in range(0, n, self.max_windows):
            idx = order[start : start + self.max_windows]
            cols = torch.nonzero(mask[idx].any(0))  # padding on either side stays exact
            width = int(cols.max()) + 1 if len(cols) else 1
            part = {k: _rows(v, idx, n, seq, width) for k, v in kwargs.items()}
            with torch.no_grad():
                hidden = self._forward(part, precision)
            if out is None:
                out = torch.zeros((n, seq, hidden.shape[-1]), dtype=torch.float32)
            out[idx, :width] = hidden
        return out

    def _forward(self, part: dict, precision: str):
        import torch

        if precision == "int8":
            session = self._int8_session()
            # ids and masks as the graph's int64 (spacy-transformers passes a float mask)
            feed = {i.name: part[i.name].cpu().long().numpy() for i in session.get_inputs()}
            return torch.from_numpy(session.run(None, feed)[0])
        if precision == "bf16":
            return encode(self._bf16_model(), part).float()
        with autocast(precision):
            return encode(self._model, part).float()

    # ------------------------------------------------------------ serialisation

    def __getstate__(self) -> dict:
        """For pickling (spawned workers of nlp.pipe(n_process=N) get the pipeline pickled):
        the ONNX Runtime session cannot be, so it and the bf16 copy are made again there."""
        state = self.__dict__.copy()
        state.update(_session=None, _session_pid=None, _bf16=None)
        return state

    def to_bytes(self):
        msg = srsly.msgpack_loads(super().to_bytes())
        if self._hfmodel.transformer is not None:
            msg["state"] = state_to_bytes(self._model.state_dict())
        msg["int8_model"] = self.int8_model or b""
        return srsly.msgpack_dumps(msg)

    def from_bytes(self, bytes_data):
        msg = srsly.msgpack_loads(bytes_data)
        self.int8_model = msg.get("int8_model") or None
        self._session = None
        if not msg["config"]:
            self._hfmodel = HFObjects(
                None, None, None, msg["_init_tokenizer_config"], msg["_init_transformer_config"]
            )
            return self
        from thinc.api import get_torch_default_device

        tokenizer, vocab, config = read_config_and_tokenizer(
            msg, self.config_cls, self.tokenizer_cls
        )
        transformer = self.model_cls.from_config(config)
        device = get_torch_default_device()
        state = state_from_bytes(msg["state"], device)
        try:
            transformer.load_state_dict(state)
        except RuntimeError as e:  # as spacy-transformers does: another transformers version
            warnings.warn(f"loading the encoder's state with strict=False ({e})", stacklevel=2)
            transformer.load_state_dict(state, strict=False)
        transformer.to(device)
        self._hfmodel = HFObjects(tokenizer, transformer, vocab, SimpleFrozenDict(), {})
        self._model = transformer
        return self


def _rows(value, idx, n: int, seq: int, width: int):
    """One slice's rows of a per-window input, cut to `width` positions."""
    import torch

    if not isinstance(value, torch.Tensor) or value.dim() == 0 or len(value) != n:
        return value
    rows = value[idx]
    return rows[:, :width] if rows.dim() >= 2 and rows.shape[1] == seq else rows
