"""Negation and uncertainty (zh_medner.clinical / zh_medner.context) on gold entities.

Sentences are written with inline gold: [text/LABEL/status], status n (negated),
u (uncertain) or a (affirmed); the test puts the entities on the doc, runs the
rules-only context pipeline and compares ent._.negex / ent._.uncertain.
"""
import importlib.util
import json
import re

import pytest
import spacy
import srsly

from zh_medner import context
from zh_medner.components import context as clinical
from zh_medner.context import context_pipeline, read_termset, resource_path
from zh_medner.evaluation.context import EvalDataError, read_eval_set, score_context

from .conftest import ROOT

EVAL_SET = ROOT / "assets" / "negation_eval.jsonl"
MARK = re.compile(r"\[([^\[\]/]+)/([A-Z]+)/([nua])\]")
STATUS = {"n": "negated", "u": "uncertain", "a": "affirmed"}


def parse(marked):
    """'无[发热/SYM/n]' -> ('无发热', [(1, 3, 'SYM', 'negated')])"""
    text, ents, pos = "", [], 0
    for m in MARK.finditer(marked):
        text += marked[pos : m.start()]
        start = len(text)
        text += m.group(1)
        ents.append((start, len(text), m.group(2), STATUS[m.group(3)]))
        pos = m.end()
    return text + marked[pos:], ents


def run(nlp, text, ents):
    doc = nlp.make_doc(text)
    doc.ents = [doc.char_span(s, e, label=label, alignment_mode="strict") for s, e, label, _ in ents]
    for _, proc in nlp.pipeline:
        doc = proc(doc)
    return doc


def status_of(ent):
    neg, unc = ent._.negex, ent._.uncertain
    return "negated+uncertain" if neg and unc else "negated" if neg else "uncertain" if unc else "affirmed"


def check(nlp, marked):
    text, ents = parse(marked)
    doc = run(nlp, text, ents)
    got = [(e.text, status_of(e)) for e in doc.ents]
    want = [(text[s:e], st) for s, e, _, st in ents]
    assert got == want, marked


@pytest.fixture(scope="module")
def ctx():
    return context_pipeline()


# --- cue families -----------------------------------------------------------

CHART_PRECEDING = {
    "否认": "患者否认[头痛/SYM/n]病史。",
    "无": "查体：无[颈强直/SYM/n]。",
    "未": "夜间未[咳嗽/SYM/n]。",
    "未见": "彩超未见[胆总管扩张/SYM/n]。",
    "未闻及": "左肺未闻及[啰音/SYM/n]。",
    "未触及": "颈部未触及[肿大淋巴结/SYM/n]。",
    "未引出": "查体未引出[病理征/SYM/n]。",
    "没有": "患者没有[胸痛/SYM/n]。",
    "不伴": "[胸痛/SYM/a]不伴[出汗/SYM/n]。",
    "排除": "复查后排除[气胸/DIS/n]。",
    "除外": "结合病史除外[胃穿孔/DIS/n]。",
}
FOLLOWING = {
    "阴性": "[抗HIV抗体/ITE/n]阴性。",
    "(-)": "[尿胆原/ITE/n](-)。",
    "（-）": "[墨菲征/SYM/n]（-）。",
    "未见异常": "[胸部X线/ITE/n]未见异常。",
}
PATIENT = {
    "不": "今天不[头疼/SYM/n]了。",
    "没": "昨晚没[发烧/SYM/n]。",
    "没有": "孩子没有[呕吐/SYM/n]。",
    "不怎么": "最近不怎么[咳嗽/SYM/n]了。",
    "没怎么": "这两天没怎么[吐/SYM/n]。",
    "一直没": "吃完药一直没[发烧/SYM/n]。",
}


@pytest.mark.parametrize("cue,marked", CHART_PRECEDING.items(), ids=list(CHART_PRECEDING))
def test_chart_preceding_cue(ctx, cue, marked):
    assert cue in marked
    check(ctx, marked)


@pytest.mark.parametrize("cue,marked", FOLLOWING.items(), ids=list(FOLLOWING))
def test_following_cue(ctx, cue, marked):
    assert cue in marked
    check(ctx, marked)


@pytest.mark.parametrize("cue,marked", PATIENT.items(), ids=list(PATIENT))
def test_patient_cue(ctx, cue, marked):
    assert cue in marked
    check(ctx, marked)


@pytest.mark.parametrize(
    "marked",
    [
        "2天前无明显诱因出现[胸闷/SYM/a]。",
        "不排除[胆囊炎/DIS/u]。",
        "目前未排除[心包炎/DIS/u]。",
        "无法排除[肺脓肿/DIS/u]。",
        "不能除外[肾结石/DIS/u]。",
    ],
    ids=["无明显诱因", "不排除", "未排除", "无法排除", "不能除外"],
)
def test_pseudo_negation_does_not_negate(ctx, marked):
    check(ctx, marked)


@pytest.mark.parametrize(
    "marked",
    ["您最近有没有[头晕/SYM/u]？", "孩子有没有[拉肚子/SYM/u]？"],
)
def test_question_with_you_mei_you_is_not_negation(ctx, marked):
    check(ctx, marked)


@pytest.mark.parametrize(
    "marked",
    [
        "不是没有[咳嗽/SYM/a]，是咳得少。",
        "并非无[压痛/SYM/a]。",
        "不能说没有[肺部感染/DIS/a]。",
        "不是不[疼/SYM/a]，是能忍住。",
    ],
    ids=["不是没有", "并非无", "不能说没有", "不是不"],
)
def test_double_negation_is_affirmed(ctx, marked):
    check(ctx, marked)


@pytest.mark.parametrize(
    "marked",
    [
        "不[咳嗽/SYM/n]也不[发烧/SYM/n]。",
        "无[发热/SYM/n]、[盗汗/SYM/n]。",
        "我对[青霉素/DRU/a]不[过敏/DIS/n]。",
    ],
)
def test_more_patient_and_chart_negations(ctx, marked):
    check(ctx, marked)


@pytest.mark.parametrize(
    "marked",
    [
        "[心律不齐/SYM/a]、[早搏/SYM/a]。",
        "[肚子不舒服/SYM/a]还[拉肚子/SYM/a]。",
        "[四肢无力/SYM/a]、[头晕/SYM/a]。",
        "予无创通气后[气促/SYM/a]减轻。",
        "不知道为什么[胃疼/SYM/a]。",
        "不停地[打喷嚏/SYM/a]。",
        "没多久又[发烧/SYM/a]了。",
        "不明原因[消瘦/SYM/a]。",
    ],
)
def test_cue_characters_inside_other_words_do_not_negate(ctx, marked):
    check(ctx, marked)


# --- scope rules ------------------------------------------------------------


@pytest.mark.parametrize(
    "marked",
    [
        "无[发热/SYM/n]，[咳嗽/SYM/a]1周。",
        "无[发热/SYM/n],[咳嗽/SYM/a]1周。",
        "否认[高血压/DIS/n]；[糖尿病/DIS/a]5年。",
        "无[发热/SYM/n];[咳嗽/SYM/a]加重。",
        "否认[外伤/DIS/n]史：[左膝肿痛/SYM/a]。",
        "没[发烧/SYM/n]。[咳嗽/SYM/a]好几天了。",
        "没[发烧/SYM/n]！[咳嗽/SYM/a]好几天了。",
    ],
    ids=["，", ",", "；", ";", "：", "。", "！"],
)
def test_clause_punctuation_ends_scope(ctx, marked):
    check(ctx, marked)


@pytest.mark.parametrize(
    "marked",
    [
        "无[发热/SYM/n]但[咽痛/SYM/a]明显。",
        "没有[发烧/SYM/n]但是[嗓子疼/SYM/a]。",
        "未闻及[湿啰音/SYM/n]然而[呼吸音低/SYM/a]。",
        "否认[发热/SYM/n]伴[腹泻/SYM/a]2天。",
        "既往无[胃病/DIS/n]史现[胃痛/SYM/a]3天。",
        "不[头疼/SYM/n]不过[头晕/SYM/a]。",
    ],
    ids=["但", "但是", "然而", "伴", "现", "不过"],
)
def test_termination_ends_scope(ctx, marked):
    check(ctx, marked)


@pytest.mark.parametrize(
    "marked",
    [
        "不伴[发热/SYM/n]、[寒战/SYM/n]。",
        "未发现[腹水/SYM/n]。",
        "住院期间未出现[发热/SYM/n]。",
        "患者今日出现[发热/SYM/a]。",
    ],
    ids=["不伴", "未发现", "未出现", "出现"],
)
def test_terminations_inside_words_do_not_end_scope(ctx, marked):
    check(ctx, marked)


@pytest.mark.parametrize(
    "marked",
    [
        "否认[高血压/DIS/n]、[糖尿病/DIS/n]、[冠心病/DIS/n]史。",
        "无[恶心/SYM/n]和[呕吐/SYM/n]。",
        "无[压痛/SYM/n]及[反跳痛/SYM/n]。",
        "否认[肝炎/DIS/n]或[结核/DIS/n]病史。",
        "[HBsAg/ITE/n]、[抗HCV/ITE/n]均阴性。",
    ],
    ids=["、", "和", "及", "或", "following"],
)
def test_enumeration_stays_in_scope(ctx, marked):
    check(ctx, marked)


def test_negation_applies_to_configured_types_only(ctx):
    text, ents = parse("无[华法林/DRU/a]用药史，无[出血/SYM/n]。")
    assert [status_of(e) for e in run(ctx, text, ents).ents] == ["affirmed", "negated"]

    nlp = spacy.blank("zh")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("zh_negex", name="negex", config={"ent_types": ["DIS", "SYM", "ITE", "DRU"]})
    nlp.add_pipe("zh_negex", name="uncertainty", config={"extension_name": "uncertain"})
    nlp.get_pipe("negex").set_termset(read_termset(resource_path("negation_zh.json")))
    nlp.get_pipe("uncertainty").set_termset(read_termset(resource_path("uncertainty_zh.json")))
    assert [status_of(e) for e in run(nlp, text, ents).ents] == ["negated", "negated"]


# --- uncertainty --------------------------------------------------------------


@pytest.mark.parametrize(
    "marked",
    [
        "可能是[胃肠炎/DIS/u]。",
        "[支原体肺炎/DIS/u]可能。",
        "疑似[水痘/DIS/u]。",
        "考虑[急性支气管炎/DIS/u]。",
        "[肺结核/DIS/u]待查。",
        "不排除[阑尾炎/DIS/u]。",
        "会不会是[肾结石/DIS/u]？",
    ],
    ids=["可能", "可能(following)", "疑似", "考虑", "待查", "不排除", "会不会"],
)
def test_uncertainty_cue(ctx, marked):
    check(ctx, marked)


def test_ruled_out_and_suspected_are_apart(ctx):
    check(ctx, "排除[肺栓塞/DIS/n]，不排除[肺炎/DIS/u]，不考虑[肺癌/DIS/n]。")


# --- termset validation and serialization --------------------------------------


@pytest.mark.parametrize("missing", clinical.TERMSET_KEYS)
def test_termset_missing_key_is_named(ctx, missing):
    termset = read_termset(resource_path("negation_zh.json"))
    del termset[missing]
    with pytest.raises(ValueError, match=missing):
        clinical.ChineseNegex(ctx, "x", ent_types=None, extension_name="negex").initialize(termset=termset)
    with pytest.raises(ValueError, match=missing):
        clinical.validate_termset(termset)


def test_termset_file_missing_key_is_named(tmp_path):
    termset = srsly.read_json(resource_path("uncertainty_zh.json"))
    del termset["termination"]
    path = tmp_path / "bad.json"
    srsly.write_json(path, termset)
    with pytest.raises(ValueError, match="termination"):
        context_pipeline(uncertainty_termset=path)


def test_resources_are_valid_termsets():
    for name in ("negation_zh.json", "uncertainty_zh.json"):
        termset = read_termset(resource_path(name))
        for cues in termset.values():
            assert len(cues) == len(set(cues)), name


def _same_behaviour(a, b):
    marked = "否认[高血压/DIS/n]、[糖尿病/DIS/n]，考虑[肺炎/DIS/u]，[咳嗽/SYM/a]。"
    text, ents = parse(marked)
    return [status_of(e) for e in run(a, text, ents).ents] == [status_of(e) for e in run(b, text, ents).ents] == [
        st for *_, st in ents
    ]


def test_to_disk_and_load_keep_termsets(ctx, tmp_path):
    ctx.to_disk(tmp_path / "ctx")
    loaded = spacy.load(tmp_path / "ctx")
    for name in ("negex", "uncertainty"):
        assert loaded.get_pipe(name).termset == ctx.get_pipe(name).termset
    assert loaded.get_pipe("uncertainty").extension_name == "uncertain"
    assert _same_behaviour(ctx, loaded)


def test_to_bytes_and_from_bytes_keep_termsets(ctx):
    fresh = spacy.blank("zh")
    fresh.add_pipe("sentencizer", config={"punct_chars": context.SENTENCE_PUNCT})
    fresh.add_pipe("zh_negex", name="negex")
    fresh.add_pipe("zh_negex", name="uncertainty", config={"extension_name": "uncertain"})
    with pytest.raises(ValueError, match="no cues"):
        fresh("无发热")
    fresh.from_bytes(ctx.to_bytes())
    for name in ("negex", "uncertainty"):
        assert fresh.get_pipe(name).termset == ctx.get_pipe(name).termset
    assert _same_behaviour(ctx, fresh)


# --- the evaluation set and its scorer -------------------------------------------


@pytest.fixture(scope="module")
def eval_records():
    return read_eval_set(EVAL_SET)


def test_eval_set_size_and_shape(eval_records):
    assert len(eval_records) >= 300
    assert len({r["id"] for r in eval_records}) == len(eval_records)
    affirmed_only = sum(r["case"] == "affirmed" for r in eval_records)
    assert affirmed_only >= 0.25 * len(eval_records)
    statuses = {e["status"] for r in eval_records for e in r["entities"]}
    assert statuses == {"negated", "uncertain", "affirmed"}


@pytest.mark.parametrize("name", ["negation_zh.json", "uncertainty_zh.json"])
def test_eval_set_covers_every_cue(eval_records, name):
    texts = [r["text"] for r in eval_records]
    termset = read_termset(resource_path(name))
    uncovered = [cue for cues in termset.values() for cue in cues if not any(cue in t for t in texts)]
    assert not uncovered, f"cues of {name} absent from {EVAL_SET.name}: {uncovered}"


def test_negation_f1_on_eval_set(ctx, eval_records):
    scores = score_context(ctx, eval_records, source=str(EVAL_SET))
    assert scores["sentences"] == len(eval_records)
    assert scores["negated"]["support"] > 0 and scores["uncertain"]["support"] > 0
    assert scores["negated"]["f"] >= 0.90, scores["errors"][:20]


def test_score_context_counts():
    nlp = context_pipeline()
    records = [
        {"id": "a", "text": "无发热，咳嗽。", "case": "t", "entities": [
            {"start": 1, "end": 3, "label": "SYM", "status": "negated"},
            {"start": 4, "end": 6, "label": "SYM", "status": "negated"},
        ]},
        {"id": "b", "text": "考虑肺炎。", "case": "t", "entities": [
            {"start": 2, "end": 4, "label": "DIS", "status": "affirmed"},
        ]},
    ]
    scores = score_context(nlp, records)
    assert (scores["negated"]["tp"], scores["negated"]["fp"], scores["negated"]["fn"]) == (1, 0, 1)
    assert scores["negated"]["p"] == 1.0 and scores["negated"]["r"] == 0.5
    assert (scores["uncertain"]["tp"], scores["uncertain"]["fp"]) == (0, 1)
    assert [(e["id"], e["entity"], e["gold"], e["predicted"]) for e in scores["errors"]] == [
        ("a", "咳嗽", "negated", "affirmed"),
        ("b", "肺炎", "affirmed", "uncertain"),
    ]
    assert scores["by_case"]["t"] == {"entities": 3, "errors": 2}


GOOD = {"id": "x", "text": "无发热。", "case": "t", "entities": [{"start": 1, "end": 3, "label": "SYM", "status": "negated"}]}


@pytest.mark.parametrize(
    "line,message",
    [
        ("{not json", "invalid JSON"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "case"}), "case"),
        (json.dumps({**GOOD, "entities": [{"start": 1, "end": 9, "label": "SYM", "status": "negated"}]}), "out of range"),
        (json.dumps({**GOOD, "entities": [{"start": 1, "end": 3, "label": "SYM", "status": "maybe"}]}), "status"),
    ],
    ids=["json", "key", "offsets", "status"],
)
def test_bad_eval_line_names_file_and_line(tmp_path, line, message):
    path = tmp_path / "eval.jsonl"
    path.write_text(json.dumps(GOOD, ensure_ascii=False) + "\n" + line + "\n", encoding="utf8")
    with pytest.raises(EvalDataError, match=message) as err:
        read_eval_set(path)
    assert f"{path}:2" in str(err.value)


def test_misaligned_span_names_the_line(tmp_path):
    path = tmp_path / "eval.jsonl"
    record = {"id": "x", "text": "无 发热。", "case": "t", "entities": [{"start": 1, "end": 4, "label": "SYM", "status": "negated"}]}
    path.write_text("\n" + json.dumps(record, ensure_ascii=False) + "\n", encoding="utf8")
    records = read_eval_set(path)
    with pytest.raises(EvalDataError, match=f"{path}:2.*does not align"):
        score_context(context_pipeline(), records, source=str(path))


def _script():
    spec = importlib.util.spec_from_file_location("evaluate_negation", ROOT / "scripts" / "evaluate_negation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_writes_metrics(tmp_path):
    from typer.testing import CliRunner

    import typer

    app = typer.Typer()
    app.command()(_script().main)
    path = tmp_path / "eval.jsonl"
    path.write_text(json.dumps(GOOD, ensure_ascii=False) + "\n", encoding="utf8")
    out = tmp_path / "m" / "negation.json"
    result = CliRunner().invoke(app, [str(path), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "negated" in result.output and "uncertain" in result.output
    metrics = srsly.read_json(out)
    assert metrics["negated"]["f"] == 1.0

    path.write_text(json.dumps(GOOD, ensure_ascii=False) + "\n{bad\n", encoding="utf8")
    result = CliRunner().invoke(app, [str(path), "--output", str(out)])
    assert result.exit_code != 0
    assert f"{path}:2" in result.output
