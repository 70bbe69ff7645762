"""zh_context (zh_medner/components/context.py): behaviour on gold findings.

Sentences carry inline gold: [text/LABEL/codes]. The first code is n (negated), u
(uncertain) or a (affirmed); f (family), h (historical) and y (hypothetical) may
follow. The test sets the findings as doc.ents, runs the rules-only clinical layer
built from configs/assemble.cfg and compares all five extensions.
"""

import re
import time

import pytest
import spacy
import srsly

from zh_medner.components.context import EXTENSIONS, RulesError, read_rules, validate_rules
from zh_medner.evaluation.gold import rules_pipeline, run_rules

from .conftest import ROOT

RULES = ROOT / "zh_medner" / "resources" / "context_rules_zh.json"
MARK = re.compile(r"\[([^\[\]/]+)/([A-Z]+)/([nua][fhy]*)\]")
STATUS = {"n": "negated", "u": "uncertain", "a": "affirmed"}
FLAG = {"f": "family", "h": "historical", "y": "hypothetical"}


def parse(marked):
    """'无[发热/SYM/n]' -> ('无发热', [(1, 3, 'SYM', 'n')])"""
    text, ents, pos = "", [], 0
    for m in MARK.finditer(marked):
        text += marked[pos : m.start()]
        start = len(text)
        text += m.group(1)
        ents.append((start, len(text), m.group(2), m.group(3)))
        pos = m.end()
    return text + marked[pos:], ents


def run(nlp, text, ents):
    doc = nlp.make_doc(text)
    doc.ents = [
        doc.char_span(s, e, label=label, alignment_mode="strict") for s, e, label, _ in ents
    ]
    return run_rules(nlp, doc)


def codes_of(ent):
    status = "n" if ent._.negex else "u" if ent._.uncertain else "a"
    if ent._.negex and ent._.uncertain:
        status = "nu"
    return status + "".join(k for k, ext in FLAG.items() if getattr(ent._, ext))


def check(nlp, marked):
    text, ents = parse(marked)
    doc = run(nlp, text, ents)
    got = [(e.text, codes_of(e)) for e in doc.ents]
    want = [(text[s:e], codes) for s, e, _, codes in ents]
    assert got == want, marked


def build(rules_path=RULES, **overrides):
    overrides = {"paths.context_rules": str(rules_path), **overrides}
    return rules_pipeline(ROOT / "configs" / "assemble.cfg", overrides, exclude=["entity_ruler"])


@pytest.fixture(scope="module")
def ctx():
    return build()


def with_rules(tmp_path, rules, **overrides):
    path = tmp_path / "rules.json"
    srsly.write_json(path, {"rules": rules, "boundaries": {"speech_markers": ["我"]}})
    return build(path, **overrides)


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


# --- patient speech ---------------------------------------------------------


@pytest.mark.parametrize(
    "marked",
    [
        "大夫，我这个是不是[胃炎/DIS/u]啊？",
        "脖子上的包会不会是[淋巴瘤/DIS/u]？",
        "这是[湿疹/DIS/u]吗？",
        "孩子有没有可能是[手足口病/DIS/u]？",
        "[头晕/SYM/u]要不要紧？",
        "[心动过缓/SYM/u]，一分钟55下，要紧吗？",
        "[发烧/SYM/a]能吃布洛芬吗？",
    ],
    ids=[
        "是不是",
        "会不会",
        "吗",
        "有没有",
        "要不要紧",
        "要紧吗 across a comma",
        "a question about what to do",
    ],
)
def test_questions_are_not_negations(ctx, marked):
    check(ctx, marked)


@pytest.mark.parametrize(
    "marked",
    [
        "[发烧/SYM/n]没有，就是[嗓子疼/SYM/a]。",
        "[咳嗽/SYM/n]倒没有。",
        "[痰/SYM/n]也没。",
        "[水肿/SYM/n]不太明显了。",
        "[拉肚子/SYM/n]已经好了。",
        "[皮疹/SYM/n]没了。",
        "[烧/SYM/n]退了。",
        "小时候有[哮喘/DIS/nh]，现在好了。",
        "[恶心/SYM/n]呢？没有。",
    ],
    ids=[
        "X没有",
        "X倒没有",
        "X也没",
        "X不太明显",
        "X好了",
        "X没了",
        "X退了",
        "resolved in its own clause",
        "answer",
    ],
)
def test_post_posed_and_answer_negation(ctx, marked):
    check(ctx, marked)


@pytest.mark.parametrize(
    "marked",
    [
        "这两天不[发烧/SYM/n]。",
        "昨晚没[咳/SYM/n]。",
        "吃了药没怎么[吐/SYM/n]。",
        "一点也不[痛/SYM/n]。",
        "从来没[晕/SYM/n]过。",
        "[烧/SYM/a]一直没退。",
        "[饭/SYM/a]吃不下。",
    ],
    ids=[
        "不",
        "没",
        "没怎么",
        "一点也不",
        "从来没",
        "没退 is a pseudo-cue",
        "吃不下 is a pseudo-cue",
    ],
)
def test_verb_negation(ctx, marked):
    check(ctx, marked)


@pytest.mark.parametrize(
    "marked",
    [
        "好像有点[发烧/SYM/u]。",
        "可能是[肠胃炎/DIS/u]。",
        "似乎[血压/ITE/u]偏高。",
        "不知道是不是[中暑/DIS/u]了。",
        "我怀疑是[颈椎病/DIS/u]。",
        "说不定是[过敏/DIS/u]。",
        "估计是[感冒/DIS/u]。",
    ],
    ids=["好像", "可能", "似乎", "不知道是不是", "怀疑", "说不定", "估计"],
)
def test_hedges(ctx, marked):
    check(ctx, marked)


@pytest.mark.parametrize(
    "marked",
    [
        "不是不[疼/SYM/a]，是能忍。",
        "没有一天不[头疼/SYM/a]的。",
        "没有哪天不[拉肚子/SYM/a]。",
        "说不[痒/SYM/a]是假的。",
    ],
    ids=["不是不", "没有一天不", "没有哪天不", "说不X是假的"],
)
def test_double_negation(ctx, marked):
    check(ctx, marked)


@pytest.mark.parametrize(
    "marked",
    [
        "不[咳嗽/SYM/n]但有[痰/SYM/a]。",
        "没[发烧/SYM/n]就是[浑身酸痛/SYM/a]。",
        "不[疼/SYM/n]只是[痒/SYM/a]。",
        "没[发烧/SYM/n]还[咳嗽/SYM/a]。",
    ],
    ids=["不X但Y", "没X就是Y", "不X只是Y", "没X还Y"],
)
def test_contrast(ctx, marked):
    check(ctx, marked)


@pytest.mark.parametrize(
    "marked",
    [
        "没有[发烧/SYM/n]，也没[咳嗽/SYM/n]，就是[嗓子疼/SYM/a]，晚上睡不好。",
        "最近[头晕/SYM/a]，不[恶心/SYM/n]，[血压/ITE/a]有点高，[心慌/SYM/a]。",
        "没[吐/SYM/n]，[肚子疼/SYM/a]。",
    ],
)
def test_run_on_speech_scope_ends_at_each_comma(ctx, marked):
    check(ctx, marked)


# --- family, history, hypothetical -----------------------------------------


@pytest.mark.parametrize(
    "marked",
    [
        "我爸有[高血压/DIS/af]。",
        "家族史：母亲[糖尿病/DIS/af]。",
        "有[高血压/DIS/af]家族史。",
        "其父患[冠心病/DIS/af]。",
        "我爸有[高血压/DIS/af]，我也[头晕/SYM/a]。",
        "否认家族性[肿瘤/DIS/nf]病史。",
        "我奶奶是[肺癌/DIS/afh]走的。",
    ],
    ids=[
        "我爸",
        "家族史 forward",
        "家族史 backward",
        "其父",
        "back to the patient",
        "denied",
        "died of it",
    ],
)
def test_family(ctx, marked):
    check(ctx, marked)


@pytest.mark.parametrize(
    "marked",
    [
        "既往有[糖尿病/DIS/ah]史。",
        "以前得过[胃炎/DIS/ah]。",
        "曾患[肺结核/DIS/nh]，已治愈。",
        "有[高血压/DIS/ah]病史十年。",
        "否认[高血压/DIS/n]病史。",
        "既往无[胃病/DIS/n]史。",
        "10年前因[胆囊结石/DIS/ah]手术。",
        "既往有[溃疡/DIS/ah]史，本次[腹痛/SYM/a]。",
    ],
    ids=[
        "既往",
        "以前得过",
        "曾患",
        "病史",
        "denied history is not history",
        "既往无",
        "N年前 (diseases)",
        "本次 ends it",
    ],
)
def test_history(ctx, marked):
    check(ctx, marked)


@pytest.mark.parametrize(
    "marked",
    [
        "如有[发热/SYM/ay]及时就诊。",
        "若出现[胸痛/SYM/ay]立即复诊。",
        "一旦[出血/SYM/ay]，马上来医院。",
        "要是晚上又[烧/SYM/ay]起来怎么办？",
        "以防[感染/DIS/ay]。",
        "会不会得[狂犬病/DIS/uy]？",
    ],
    ids=["如有", "若出现", "一旦", "要是", "以防", "会不会得"],
)
def test_hypothetical(ctx, marked):
    check(ctx, marked)


# --- rule features ----------------------------------------------------------


def test_direction_forward_backward_bidirectional_nearest(tmp_path):
    rules = [
        {"literal": "F", "category": "NEGATED", "direction": "forward"},
        {"literal": "B", "category": "NEGATED", "direction": "backward"},
        {"literal": "D", "category": "UNCERTAIN", "direction": "bidirectional"},
        {"literal": "N", "category": "HISTORICAL", "direction": "nearest"},
    ]
    nlp = with_rules(tmp_path, rules)
    check(nlp, "[甲/SYM/a]F[乙/SYM/n]")
    check(nlp, "[甲/SYM/n]B[乙/SYM/a]")
    check(nlp, "[甲/SYM/u]D[乙/SYM/u]")
    check(nlp, "[甲/SYM/a]N[乙/SYM/ah]")
    check(nlp, "[甲/SYM/ah]N。")


def test_max_scope_counts_characters(tmp_path):
    nlp = with_rules(tmp_path, [{"literal": "无", "category": "NEGATED", "max_scope": 3}])
    check(nlp, "无一二[甲/SYM/n]")
    check(nlp, "无一二三[甲/SYM/a]")


def test_scope_clause_or_sentence(tmp_path):
    rules = [
        {"literal": "无", "category": "NEGATED", "scope": "clause"},
        {"literal": "疑", "category": "UNCERTAIN", "scope": "sentence"},
    ]
    nlp = with_rules(tmp_path, rules)
    check(nlp, "无[甲/SYM/n]，[乙/SYM/a]。")
    check(nlp, "疑[甲/SYM/u]，[乙/SYM/u]。[丙/SYM/a]")


def test_types_per_rule(tmp_path):
    nlp = with_rules(tmp_path, [{"literal": "无", "category": "NEGATED", "types": ["DRU"]}])
    check(nlp, "无[华法林/DRU/n]、[出血/SYM/a]")
    check(ctx_default := build(), "无[华法林/DRU/a]用药史，无[出血/SYM/n]。")
    del ctx_default


def test_terminate_per_category(tmp_path):
    rules = [
        {"literal": "无", "category": "NEGATED"},
        {"literal": "父", "category": "FAMILY"},
        {"literal": "我", "category": "TERMINATE", "terminates": ["FAMILY"]},
    ]
    nlp = with_rules(tmp_path, rules)
    check(nlp, "父[甲/SYM/af]我[乙/SYM/a]")
    check(nlp, "无[甲/SYM/n]我[乙/SYM/n]")


def test_pseudo_cue_hides_the_cues_it_overlaps(tmp_path):
    rules = [{"literal": "无", "category": "NEGATED"}, {"literal": "无诱因", "category": "PSEUDO"}]
    nlp = with_rules(tmp_path, rules)
    check(nlp, "无诱因[甲/SYM/a]")
    check(nlp, "无[甲/SYM/n]")


def test_unless_blocks_a_category(tmp_path):
    rules = [
        {"literal": "否认", "category": "NEGATED"},
        {"literal": "史", "category": "HISTORICAL", "direction": "backward", "unless": ["NEGATED"]},
    ]
    nlp = with_rules(tmp_path, rules)
    check(nlp, "[甲/SYM/ah]史")
    check(nlp, "否认[甲/SYM/n]史")


def test_register_speech_or_chart(tmp_path):
    rules = [
        {"literal": "？", "category": "UNCERTAIN", "direction": "backward", "register": "chart"}
    ]
    auto = with_rules(tmp_path, rules)
    check(auto, "[肺炎/DIS/u]？")
    check(auto, "我[肺炎/DIS/a]？")  # 我: patient speech, where ？ is any question
    speech = with_rules(tmp_path, rules, **{"components.context.register": "speech"})
    check(speech, "[肺炎/DIS/a]？")


def test_a_cue_inside_a_finding_is_part_of_it(ctx):
    check(ctx, "[动脉导管未闭/DIS/a]，[心脏杂音/SYM/a]。")


def test_nested_spans_in_the_span_group_get_context_too(ctx):
    doc = ctx.make_doc("否认慢性胃炎。")
    doc.ents = [doc.char_span(2, 6, label="DIS")]
    doc.spans["sc"] = [doc.char_span(2, 6, label="DIS"), doc.char_span(4, 6, label="DIS")]
    doc = run_rules(ctx, doc)
    assert [s._.negex for s in doc.spans["sc"]] == [True, True]


# --- the rules as data ------------------------------------------------------


def test_shipped_rules_are_valid():
    validate_rules(read_rules(RULES), str(RULES))


@pytest.mark.parametrize(
    "rule,message",
    [
        ({"literal": "无"}, "category must be one of"),
        ({"literal": "", "category": "NEGATED"}, "'literal' must be"),
        ({"literal": "无", "category": "NEGATED", "direction": "left"}, "direction must be one of"),
        (
            {"literal": "无", "category": "NEGATED", "max_scope": 0},
            "max_scope must be an integer >= 1",
        ),
        ({"literal": "无", "category": "NEGATED", "scopes": "clause"}, "unknown key"),
        ({"literal": "无", "category": "NEGATED", "terminates": ["X"]}, "terminates must list"),
    ],
)
def test_bad_rule_is_named(rule, message):
    with pytest.raises(RulesError, match=message):
        validate_rules({"rules": [rule]}, "my_rules.json")


def test_rules_travel_with_the_pipeline(ctx, tmp_path):
    ctx.to_disk(tmp_path / "p")
    again = spacy.load(tmp_path / "p")
    check(again, "否认[高血压/DIS/n]病史，我爸有[糖尿病/DIS/af]。")
    pipe = ctx.get_pipe("context")
    fresh = build()
    fresh.get_pipe("context").from_bytes(pipe.to_bytes())
    check(fresh, "可能是[肺炎/DIS/u]。")


def test_without_rules_it_says_how_to_give_them():
    nlp = spacy.blank("zh")
    nlp.add_pipe("sentencizer")
    pipe = nlp.add_pipe("zh_context", name="context")
    with pytest.raises(ValueError, match="initialize the pipeline with a rules file"):
        pipe(nlp("无发热"))


def test_every_extension_is_registered():
    doc = spacy.blank("zh")("发热")
    for ext in EXTENSIONS.values():
        assert doc[0:1]._.get(ext) is False


def test_analyze_pipes_reports_a_missing_sentencizer():
    nlp = spacy.blank("zh")
    nlp.add_pipe("zh_context", name="context")
    problems = nlp.analyze_pipes()["problems"]["context"]
    assert "doc.sents" in problems and "doc.ents" in problems


def _seconds_for(ctx, chars: int):
    """(best of three timings of the rules-only layer, the doc) on a record of `chars`
    characters with a finding every 36."""
    base = "否认高血压病史，三天前出现发热、咳嗽，我妈有糖尿病，如有腹痛及时就诊。"
    text = (base * (chars // len(base) + 1))[:chars]
    best = float("inf")
    for _ in range(3):
        doc = ctx.make_doc(text)
        doc.ents = [
            doc.char_span(i, i + 2, label="SYM")
            for i in range(len(text))
            if text.startswith("发热", i)
        ]
        start = time.perf_counter()
        doc = run_rules(ctx, doc)
        best = min(best, time.perf_counter() - start)
    return best, doc


def test_long_record_runs_in_linear_time(ctx):
    """4 times the characters and findings take about 4 times as long (16 if quadratic): a
    100,000-character record with 2,800 findings costs no more per character than 25,000."""
    short, _ = _seconds_for(ctx, 25_000)
    long, doc = _seconds_for(ctx, 100_000)
    assert len(doc.ents) > 2_000 and all(e._.negated is False for e in doc.ents)
    assert long / short < 8, f"25,000 characters {short:.3f} s, 100,000 {long:.3f} s"
