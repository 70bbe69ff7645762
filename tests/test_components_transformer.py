"""zh_medner.TransformerModel.v1 (zh_medner/components/transformer.py): bucketed prediction,
precision (fp32, bf16, int8, auto), safe and exact saving, and no patching of spacy-transformers.
"""

import io
import os
import pickle
import subprocess
import sys

import numpy
import pytest
import spacy
import torch
from spacy.training import Example

import zh_medner.components.precision as precision
from zh_medner.components.span_choice import SPANS_KEY
from zh_medner.encoder.quantize import QuantizeError, add_int8_encoder, encoder_shim
from zh_medner.encoder.random_init import build_random_encoder

from .conftest import ROOT
from .test_components_span_head import TEXTS, blank, gold_docs

WINDOW = {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 16, "stride": 12}
LISTENER = {
    "@architectures": "spacy-transformers.TransformerListener.v1",
    "grad_factor": 1.0,
    "pooling": {"@layers": "reduce_mean.v1"},
    "upstream": "*",
}


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    path = tmp_path_factory.mktemp("enc")
    build_random_encoder(path, seed=1, hidden=32, layers=1, heads=1, intermediate=64)
    return path


def with_transformer(encoder, **model):
    nlp = blank()
    config = {"@architectures": "zh_medner.TransformerModel.v1", "name": str(encoder)}
    nlp.add_pipe("transformer", config={"model": {**config, "get_spans": WINDOW, **model}})
    return nlp


def learnt_pipeline(encoder, path):
    """A transformer + span head that has learnt the gold docs by heart, saved with int8."""
    nlp = with_transformer(encoder, precision="fp32")
    nlp.add_pipe("span_head", config={"model": {"max_length": 8, "tok2vec": LISTENER}})
    examples = [Example(nlp.make_doc(d.text), d) for d in gold_docs(nlp)]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(80):
        nlp.update(examples, sgd=optimizer, drop=0.0)
    nlp.to_disk(path)
    assert add_int8_encoder(path)["min_cosine"] > 0.99  # the encoder in eval mode, no dropout
    return path


@pytest.fixture(scope="module")
def saved(encoder, tmp_path_factory):
    return learnt_pipeline(encoder, tmp_path_factory.mktemp("pipeline") / "nlp")


def spans(nlp):
    return [
        {(s.start_char, s.end_char, s.label_) for s in doc.spans[SPANS_KEY]}
        for doc in nlp.pipe(TEXTS)
    ]


def test_bucketed_prediction_equals_one_forward_over_every_window(encoder):
    """Windows sorted by length, a few per forward, each slice trimmed to its longest window:
    the same hidden states as one padded forward over all of them."""
    nlp = with_transformer(encoder, precision="fp32")
    nlp.initialize()
    trf = nlp.get_pipe("transformer")
    docs = [nlp.make_doc(t) for t in ["患者三天前出现发热。" * 20, "咳嗽", "否认高血压病史。" * 3]]
    shim = trf.model.layers[0].shims[0]

    def hidden(max_windows):
        shim.max_windows = max_windows
        return numpy.asarray(trf.predict(docs).model_output.last_hidden_state)

    whole, sliced = hidden(10_000), hidden(3)
    assert whole.shape == sliced.shape and whole.shape[0] > 3
    mask = numpy.asarray(trf.predict(docs).wordpieces.attention_mask).astype(bool)
    numpy.testing.assert_allclose(sliced[mask], whole[mask], atol=1e-5)


@pytest.mark.parametrize("name", ["fp32", "bf16", "int8", "auto"])
def test_each_precision_loads_from_a_saved_pipeline_and_finds_the_fp32_spans(saved, name):
    """Tolerance: on the learnt docs every precision finds exactly the fp32 spans."""
    reference = spans(spacy.load(saved, config={"components.transformer.model.precision": "fp32"}))
    nlp = spacy.load(saved, config={"components.transformer.model.precision": name})
    assert nlp.config["components"]["transformer"]["model"]["precision"] == name
    assert any(reference)
    assert spans(nlp) == reference


@pytest.mark.parametrize("arch", ["roformer", "modernbert"])
def test_the_pretrainings_other_architectures_find_the_fp32_spans_in_every_precision(
    tmp_path, arch
):
    """RoFormer (the shipped encoder's; its prediction runs roformer_fast.encode) and ModernBERT
    (pre-LN, GLU, no biases, no token type ids) train, save, export to int8 and predict the
    same spans in each precision."""
    encoder = tmp_path / "enc"
    build_random_encoder(encoder, seed=1, hidden=32, layers=1, heads=2, intermediate=64, arch=arch)
    path = learnt_pipeline(encoder, tmp_path / "nlp")
    reference = spans(spacy.load(path, config={"components.transformer.model.precision": "fp32"}))
    assert any(reference)
    for name in ("bf16", "int8"):
        nlp = spacy.load(path, config={"components.transformer.model.precision": name})
        assert spans(nlp) == reference, name


def test_auto_and_bf16_fall_back_to_fp32_on_a_cpu_without_the_features(saved, monkeypatch):
    shim = encoder_shim(spacy.load(saved))
    monkeypatch.setattr(precision, "cpu_features", lambda: {"bf16": False, "int8": False})
    import zh_medner.components.transformer as transformer

    monkeypatch.setattr(transformer, "cpu_features", precision.cpu_features)
    for name, expected in [("auto", "fp32"), ("bf16", "fp32"), ("fp32", "fp32"), ("int8", "int8")]:
        shim.precision = name
        assert shim.run_precision() == expected
    monkeypatch.setattr(transformer, "cpu_features", lambda: {"bf16": True, "int8": False})
    shim.precision = "auto"
    assert shim.run_precision() == "bf16"


def test_auto_prefers_bf16_then_int8_where_the_pipeline_has_it():
    """bf16 first (faster than ONNX int8 on the measured CPUs: docs/results.md), int8 on a CPU
    with VNNI or AVX2 but no bf16, and only where the pipeline has an int8 encoder."""
    both = {"bf16": True, "int8": True}
    assert precision.resolve_precision("auto", both, {"fp32", "bf16", "int8"}) == "bf16"
    int8 = {"bf16": False, "int8": True}
    assert precision.resolve_precision("auto", int8, {"fp32", "bf16", "int8"}) == "int8"
    assert precision.resolve_precision("auto", int8, {"fp32", "bf16"}) == "fp32"
    with pytest.raises(ValueError, match="use one of"):
        precision.resolve_precision("fp16", both)


def test_the_bf16_copy_is_made_again_after_a_training_step(saved):
    """Prediction in bf16 runs a bf16 copy of the weights; a training step (which changes the
    fp32 weights) drops it, so an evaluation during training sees the current weights."""
    import torch

    nlp = spacy.load(saved, config={"components.transformer.model.precision": "bf16"})
    shim = encoder_shim(nlp)
    shim.run_precision = lambda: "bf16"  # this test's CPU may lack bf16: the path is the point
    list(nlp.pipe(TEXTS))
    first = shim._bf16[1]
    assert next(first.parameters()).dtype == torch.bfloat16
    assert next(shim._model.parameters()).dtype == torch.float32
    list(nlp.pipe(TEXTS))
    assert shim._bf16[1] is first  # kept between predictions
    examples = [Example(nlp.make_doc(d.text), d) for d in gold_docs(nlp)]
    nlp.update(examples, sgd=nlp.resume_training())
    list(nlp.pipe(TEXTS))
    assert shim._bf16[1] is not first


def test_fp32_prediction_reads_the_weights_of_the_last_training_step(tmp_path, monkeypatch):
    """roformer_fast caches the stacked attention weights; thinc's optimizer updates them
    through a numpy view that torch does not count, so each step drops the cache."""
    import zh_medner.components.transformer as transformer

    encoder = tmp_path / "enc"
    build_random_encoder(
        encoder, seed=1, hidden=32, layers=1, heads=2, intermediate=64, arch="roformer"
    )
    nlp = with_transformer(encoder, precision="fp32")
    nlp.add_pipe("span_head", config={"model": {"max_length": 8, "tok2vec": LISTENER}})
    examples = [Example(nlp.make_doc(d.text), d) for d in gold_docs(nlp)]
    optimizer = nlp.initialize(lambda: examples)
    trf = nlp.get_pipe("transformer")
    docs = [nlp.make_doc(t) for t in TEXTS]

    def hidden():
        output = trf.predict(docs)
        mask = numpy.asarray(output.wordpieces.attention_mask).astype(bool)
        return numpy.asarray(output.model_output.last_hidden_state)[mask]

    hidden()  # the stacked weights cached
    for _ in range(3):  # spacy-transformers' first update leaves the encoder as it is
        nlp.update(examples, sgd=optimizer, drop=0.0)
    got = hidden()
    monkeypatch.setattr(transformer, "encode", lambda model, part: model(**part).last_hidden_state)
    numpy.testing.assert_allclose(got, hidden(), atol=1e-5)


def test_int8_without_an_exported_encoder_says_how_to_add_it(encoder):
    nlp = with_transformer(encoder, precision="int8")
    with pytest.raises(ValueError, match="zh-medner export"):
        nlp.initialize()  # its first prediction


def test_quantising_a_pipeline_without_the_architecture_names_the_setting(tmp_path):
    nlp = blank()
    nlp.add_pipe("sentencizer")
    nlp.to_disk(tmp_path / "p")
    with pytest.raises(QuantizeError, match="no transformer/model"):
        add_int8_encoder(tmp_path / "p")


def test_the_int8_export_leaves_the_encoder_in_eval_mode(encoder):
    """torch.onnx.export restores its module's mode: a wrapper left in training mode would turn
    the encoder's dropout back on for everything that ran after the export."""
    from transformers import AutoModel, AutoTokenizer

    from zh_medner.encoder.quantize import int8_onnx

    model = AutoModel.from_pretrained(encoder).eval()
    assert int8_onnx(model, AutoTokenizer.from_pretrained(encoder))[:1]
    assert not any(m.training for m in model.modules())


def test_the_saved_state_is_safetensors_and_keeps_exact_floats(saved):
    shim = encoder_shim(spacy.load(saved))
    assert shim._model.config.layer_norm_eps == 1e-12  # was 0.0 after a JSON round trip
    assert shim.int8_model  # the quantised encoder travels in the same file
    state = spacy.util.srsly.msgpack_loads(shim.to_bytes())["state"]
    assert state[:2] != b"PK"  # not a pickle archive


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickled_state_is_loaded_weights_only(saved, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    shim = encoder_shim(spacy.load(saved))
    msg = spacy.util.srsly.msgpack_loads(shim.to_bytes())
    buf = io.BytesIO()
    marker = tmp_path / "ran"
    torch.save({"weight": _RunsCode(marker)}, buf, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    msg["state"] = buf.getvalue()
    with pytest.raises(pickle.UnpicklingError):
        shim.from_bytes(spacy.util.srsly.msgpack_dumps(msg))
    assert not marker.exists()


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_importing_the_components_leaves_spacy_transformers_unpatched():
    out = run_python(
        "import torch\n"
        "from spacy_transformers.layers import hf_shim\n"
        "before = (hf_shim.torch, hf_shim.HFShim.predict, hf_shim.HFShim.from_bytes)\n"
        "import zh_medner.components.span_head, zh_medner.components.transformer\n"
        "after = (hf_shim.torch, hf_shim.HFShim.predict, hf_shim.HFShim.from_bytes)\n"
        "print(before == after and hf_shim.torch is torch)"
    )
    assert out == "True"


def test_the_converter_does_not_load_the_transformer_stack():
    out = run_python(
        "import sys\n"
        "import zh_medner.corpus.docbin, zh_medner.annotations.cmeee\n"
        "print(sorted(m for m in ('transformers', 'spacy_transformers') if m in sys.modules))"
    )
    assert out == "[]"


def test_empty_and_blank_texts_anywhere_in_a_batch(saved):
    """Issue 21 (5): an empty doc's hidden array is (0, 0); the head padded by its width."""
    nlp = spacy.load(saved)
    docs = list(nlp.pipe(["", TEXTS[0], " ", "\n", TEXTS[1], ""], batch_size=3))
    assert [len(d.spans[SPANS_KEY]) for d in docs[2:4]] == [0, 0]
    assert docs[1].spans[SPANS_KEY] and docs[4].spans[SPANS_KEY]
    examples = [Example(nlp.make_doc(d.text), d) for d in gold_docs(nlp)]
    examples.append(Example(nlp.make_doc(""), nlp.make_doc("")))
    nlp.update(examples, sgd=nlp.resume_training())  # training on a batch with an empty record


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_nlp_pipe_with_two_processes_after_multithreaded_use(saved, start_method):
    """Issue 21 (8): forked workers inherited torch's thread pool and hung; now each runs one
    thread and the spans are those of one process. Spawned workers get the extensions pickled
    (the context's alias getters were lambdas, which cannot be)."""
    code = (
        "import multiprocessing, spacy, torch\n"
        f"multiprocessing.set_start_method({start_method!r}, force=True)\n"
        "import zh_medner.components.context\n"
        "torch.set_num_threads(2)\n"
        f"nlp = spacy.load({str(saved)!r})\n"
        f"texts = {TEXTS!r} * 4\n"
        "one = [[(s.start, s.end, s.label_) for s in d.spans['sc']] for d in nlp.pipe(texts)]\n"
        "two = [[(s.start, s.end, s.label_) for s in d.spans['sc']]\n"
        "       for d in nlp.pipe(texts, n_process=2, batch_size=2)]\n"
        "print(one == two and any(one))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=240, cwd=ROOT
    )
    assert result.stdout.strip() == "True", result.stderr[-2000:]


def test_a_batch_of_only_empty_texts(saved):
    nlp = spacy.load(saved)
    docs = list(nlp.pipe(["", " ", ""]))
    assert [len(d.spans[SPANS_KEY]) for d in docs] == [0, 0, 0]


def test_training_precision_auto_trains_in_bf16_only_where_the_cpu_has_it(encoder, monkeypatch):
    import zh_medner.components.transformer as transformer

    with pytest.raises(ValueError, match="int8 cannot train"):
        with_transformer(encoder, training_precision="int8")
    nlp = with_transformer(encoder, training_precision="auto")
    nlp.initialize()
    shim = encoder_shim(nlp)
    seen = []
    monkeypatch.setattr(transformer, "autocast", lambda p: seen.append(p) or precision.autocast(p))
    for features, expected in (({"bf16": True}, "bf16"), ({"bf16": False}, "fp32")):
        monkeypatch.setattr(precision, "cpu_features", lambda f=features: f)
        monkeypatch.setattr(transformer, "resolve_precision", precision.resolve_precision)
        nlp.update([Example(nlp.make_doc("患者发热"), nlp.make_doc("患者发热"))])
        assert seen[-1] == expected and shim.training_precision == "auto"


@pytest.mark.parametrize("line_break,pieces", [("。", 1), ("", 0)])
def test_the_encoder_reads_a_line_break_as_the_configured_character(encoder, line_break, pieces):
    """Its tokenizer drops whitespace: with "", 发热 ending a line and 咳嗽 starting the next
    reach the encoder as 发热咳嗽."""
    nlp = with_transformer(encoder, precision="fp32", line_break=line_break)
    nlp.initialize()
    doc = nlp("发热\r\n咳嗽")
    assert doc[2].text == "\r\n"
    trf = doc._.trf_data
    assert len(trf.align[2].data) == 2 * pieces  # one wordpiece each for \r and \n
    if pieces:
        assert trf.wordpieces.strings[0][int(trf.align[2].data[0][0])] == "。"


@pytest.mark.parametrize("space", ["，", ""])
def test_a_space_stand_in_is_read_by_the_encoder_and_pooled_into_no_token(encoder, space):
    nlp = with_transformer(encoder, precision="fp32", space=space)
    nlp.initialize()
    doc = nlp("无咳嗽 发热")  # the space is 嗽's trailing whitespace, not a token
    trf = doc._.trf_data
    assert trf.wordpieces.strings[0].count("，") == len(space)
    assert [len(trf.align[i].data) for i in range(len(doc))] == [1] * 5


def test_line_break_and_space_are_read_from_the_config_at_load_and_checked(saved, encoder):
    read = spacy.load(saved).get_pipe("transformer").model.encoder_text
    assert read("发热\n咳嗽 头痛") == "发热。咳嗽，头痛"
    override = {
        "components.transformer.model.line_break": "",
        "components.transformer.model.space": "",
    }
    read = spacy.load(saved, config=override).get_pipe("transformer").model.encoder_text
    assert read("发热\n咳嗽 头痛") == "发热\n咳嗽 头痛"
    with pytest.raises(ValueError, match="one character"):
        with_transformer(encoder, line_break="<br>")


def test_the_pipeline_pickles_after_an_int8_prediction_for_spawned_workers(saved):
    """nlp.pipe(n_process=N) pickles the components for spawned workers (macOS, Windows): the
    ONNX Runtime session made by a first prediction cannot be, and is made again there."""
    nlp = spacy.load(saved, config={"components.transformer.model.precision": "int8"})
    reference = spans(nlp)
    assert encoder_shim(nlp)._session is not None
    copied = pickle.loads(pickle.dumps(nlp))
    assert encoder_shim(copied)._session is None
    assert spans(copied) == reference and encoder_shim(copied)._session is not None
