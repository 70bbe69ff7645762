"""zh_context on patients' own words (issue 19): negation inside a finding, traditional
characters, the verb a cue negates, questions, dialogues and their replies, the two corpus
conventions (hypothetical_as_uncertain, soft_negation), and the cue behind every attribute
(`span._.context_cues`) in the component, the batch output, the API record and the page.

Sentences carry inline gold as in test_components_context.py: [text/LABEL/codes].
"""

import json

import pytest
import spacy
import srsly

from zh_medner.components.context import RulesError, read_rules, validate_rules
from zh_medner.display import ents_html
from zh_medner.serving.batch import annotate_file
from zh_medner.serving.schema import context_keys, doc_record

from .serving_pipeline import save_small_pipeline
from .test_components_context import RULES, build, check, parse, run


@pytest.fixture(scope="module")
def ctx():
    return build()


@pytest.fixture(scope="module")
def cmdd_style():
    """The conventions of CMDD: a condition is uncertain, a resolved or hedged finding was
    there."""
    return build(
        **{
            "components.context.hypothetical_as_uncertain": True,
            "components.context.soft_negation": False,
            "components.context.soft_uncertainty": False,
        }
    )


def cues_of(nlp, marked, index=0):
    text, ents = parse(marked)
    ent = run(nlp, text, ents).ents[index]
    return [(c["attribute"], c["cue"], c["start"], c["end"]) for c in ent._.context_cues]


# --- a finding that holds its own negation -----------------------------------


@pytest.mark.parametrize(
    "marked",
    [
        "今天[不烧/SYM/n]了。",
        "[没有痰/SYM/n]。",
        "[不发烧/SYM/n]，[不咳/SYM/n]。",
        "最近[不舒服/SYM/a]。",
        "[腹部不适/SYM/a]三天。",
        "[动脉导管未闭/DIS/a]。",
        "[不爱吃饭/SYM/a]。",
        "[体重无明显变化/SYM/n]。",
        "[脾未见明显异常/ITE/n]。",
    ],
    ids=["不烧", "没有痰", "两个", "不舒服", "不适", "未闭", "不爱", "anywhere", "未见明显异常"],
)
def test_negation_that_opens_a_finding(ctx, marked):
    check(ctx, marked)


def test_the_cue_inside_a_finding_is_shown(ctx):
    assert cues_of(ctx, "今天[不烧/SYM/n]了。") == [("negated", "不", 2, 3)]


@pytest.mark.parametrize(
    "marked",
    ["孩子[不發燒/SYM/n]。", "沒有[發燒/SYM/n]。", "[發燒/SYM/n]沒有。", "這是[肺炎/DIS/u]嗎？"],
)
def test_traditional_characters_read_as_simplified(ctx, marked):
    check(ctx, marked)


def test_normalised_cue_keeps_the_text_as_written(ctx):
    assert cues_of(ctx, "沒有[發燒/SYM/n]。") == [("negated", "沒有", 0, 2)]


# --- scope: the verb a cue negates, lists, the end of a clause ---------------


@pytest.mark.parametrize(
    "marked",
    [
        "水没喝几口就[吐/SYM/a]了。",
        "一放下不抱他就[哭/SYM/a]。",
        "没[发烧/SYM/n]、[咳嗽/SYM/n]。",
        "没有[头疼/SYM/n]、[头晕/SYM/n]或者[恶心/SYM/n]。",
        "[肝炎/DIS/n]、[肝硬化/DIS/n]都没有。",
        "[不痒/SYM/n]没有红点。",
        "[皮疹/SYM/n]也没出。",
    ],
    ids=[
        "没 + verb",
        "不 + verb",
        "list",
        "list with 或者",
        "list backward",
        "no look back",
        "echo",
    ],
)
def test_scope_stops_at_the_verb_and_runs_along_a_list(ctx, marked):
    check(ctx, marked)


def test_a_sentence_ends_where_the_sentencizer_says(ctx):
    """No cue of sentence scope reaches past doc.sents, whatever the punctuation."""
    text, ents = parse("既往史 [高血压/DIS/ah] 下一句 [糖尿病/DIS/a]")
    doc = ctx.make_doc(text)
    doc.ents = [doc.char_span(s, e, label=label) for s, e, label, _ in ents]
    for token in doc:
        token.is_sent_start = token.i == 0 or token.text == "下"
    for name, proc in ctx.pipeline:
        if name != "sentencizer":
            doc = proc(doc)
    assert [e._.historical for e in doc.ents] == [True, False]


def test_without_sentences_it_says_to_add_a_sentencizer(ctx):
    doc = ctx.make_doc("无发热")
    doc.ents = [doc.char_span(1, 3, label="SYM")]
    with pytest.raises(ValueError, match="add the 'sentencizer' before it"):
        ctx.get_pipe("context")(doc)


# --- uncertainty in speech ----------------------------------------------------


@pytest.mark.parametrize(
    "marked",
    [
        "大便有点酸，是不是[肠炎/DIS/u]呀",
        "[中耳炎/DIS/u]有什么症状",
        "这是[湿疹/DIS/u]还是[荨麻疹/DIS/u]呢",
        "您看这是不是就是[中耳炎/DIS/u]了",
        "会不会引起[肺炎/DIS/uy]",
        "这样会转成[肺炎/DIS/u]吗",
        "[中耳炎/DIS/a]吃什么药好",
        "我爸有[糖尿病/DIS/af]，我会不会也得？",
        "[发烧/SYM/a]能吃布洛芬吗？",
    ],
    ids=[
        "是不是",
        "什么",
        "还是",
        "是不是就是",
        "会不会引起",
        "会",
        "treatment",
        "other clause",
        "symptom",
    ],
)
def test_a_disease_in_a_patients_question_is_uncertain(ctx, marked):
    check(ctx, marked)


@pytest.mark.parametrize(
    "marked",
    ["[肺炎/DIS/u]好像没有吧。", "医生问我有没有[发烧/SYM/n]，我说没有。", "不是[肺炎/DIS/u]吧？"],
    ids=["hedged denial", "answered", "asked denial"],
)
def test_the_later_cue_wins_between_negated_and_uncertain(ctx, marked):
    check(ctx, marked)


@pytest.mark.parametrize(
    "marked",
    [
        "什么是[奶瓣/SYM/u]",
        "[粘液/SYM/u]是什么？",
        "[气喘/SYM/u]是怎样的呀",
        "怎么才知道[肚子胀气/SYM/u]啊？",
        "[发烧/SYM/a]是什么原因引起的",
        "报告上写[尿蛋白/ITE/n](-)是什么意思？",
    ],
    ids=["什么是", "是什么？", "是怎样的", "怎么才知道", "a cause asked", "a result explained"],
)
def test_what_a_finding_is_asked_is_uncertain(ctx, marked):
    check(ctx, marked)


@pytest.mark.parametrize(
    "default,cmdd",
    [
        ("如果一直[发热/SYM/a]可以灌肠吗", "如果一直[发热/SYM/a]可以灌肠吗"),
        ("怕她老是[发烧/SYM/a]会引起扁桃体发炎", "怕她老是[发烧/SYM/a]会引起扁桃体发炎"),
        ("吃母乳会不会加重[腹泻/SYM/a]", "吃母乳会不会加重[腹泻/SYM/a]"),
        ("我看他等下还会不会[吐/SYM/a]", "我看他等下还会不会[吐/SYM/a]"),
        ("如果有[发热/SYM/ay]及时就诊", "如果有[发热/SYM/uy]及时就诊"),
    ],
    ids=["如果一直", "怕老是", "会不会加重", "还会不会", "a condition stays"],
)
def test_a_finding_that_goes_on_is_no_condition(ctx, cmdd_style, default, cmdd):
    check(ctx, default)
    check(cmdd_style, cmdd)


# --- the conventions of a corpus ---------------------------------------------


@pytest.mark.parametrize(
    "default,cmdd",
    [
        ("要是有[肠炎/DIS/ay]怎么办", "要是有[肠炎/DIS/uy]怎么办"),
        ("[烧/SYM/n]退了。", "[烧/SYM/a]退了。"),
        ("昨晚不怎么[咳嗽/SYM/n]了。", "昨晚不怎么[咳嗽/SYM/a]了。"),
        ("[感冒/DIS/n]已经好了。", "[感冒/DIS/a]已经好了。"),
        ("今天[不烧/SYM/n]了。", "今天[不烧/SYM/n]了。"),
        ("嗓子里好像有[痰/SYM/u]。", "嗓子里好像有[痰/SYM/a]。"),
        ("一天大概[咳/SYM/u]四五次。", "一天大概[咳/SYM/a]四五次。"),
        ("[黄痰/SYM/u]严重吗？", "[黄痰/SYM/a]严重吗？"),
        ("是不是[肺炎/DIS/u]？", "是不是[肺炎/DIS/u]？"),
        ("应该是[积食/DIS/u]了。", "应该是[积食/DIS/u]了。"),
        ("[肠炎/DIS/u]严重吗？", "[肠炎/DIS/u]严重吗？"),
    ],
    ids=[
        "condition",
        "resolved",
        "reduced",
        "好了",
        "inside stays",
        "hedge",
        "hedged count",
        "severity asked",
        "suspicion stays",
        "hedged diagnosis stays",
        "severity of a disease stays",
    ],  # fmt: skip
)
def test_hypothetical_as_uncertain_and_soft_cues(ctx, cmdd_style, default, cmdd):
    check(ctx, default)
    check(cmdd_style, cmdd)


def test_a_folded_condition_shows_its_cue_as_uncertain_too(cmdd_style):
    assert cues_of(cmdd_style, "要是有[肠炎/DIS/uy]怎么办") == [
        ("uncertain", "要是", 0, 2),
        ("hypothetical", "要是", 0, 2),
    ]


# --- a dialogue: one utterance a line with a speaker prefix -------------------


def dialogue(*lines):
    return "\n".join(lines)


@pytest.mark.parametrize(
    "marked",
    [
        dialogue("医生：宝宝有没有[发烧/SYM/n]？", "患者：没有"),
        dialogue("医生：宝宝[发烧/SYM/a]吗？", "患者：有的，38度"),
        dialogue("医生：宝宝有没有[发烧/SYM/u]？", "患者：昨天去了医院"),
        dialogue("医生：[咳嗽/SYM/a]几天了。有没有[发烧/SYM/n]？", "患者：没有。"),
        dialogue("患者：是不是[肺炎/DIS/u]啊？", "医生：嗯"),
        dialogue("医生：宝宝有没有[发烧/SYM/u]？", "医生：没有的话先观察"),
        dialogue("患者：我爸有[高血压/DIS/af]"),
    ],
    ids=[
        "no",
        "yes",
        "no answer",
        "only the last sentence",
        "a doctor's 嗯 does not settle",
        "same speaker",
        "the prefix is no cue",
    ],
)
def test_a_reply_settles_the_question_of_the_turn_before(ctx, marked):
    check(ctx, marked)


def test_the_reply_is_the_cue(ctx):
    marked = dialogue("医生：宝宝有没有[发烧/SYM/n]？", "患者：没有，就是咳")
    assert cues_of(ctx, marked) == [("negated", "没有", 15, 17)]


def test_a_speaker_prefix_makes_its_line_speech(tmp_path):
    rules = {
        "rules": [{"literal": "？", "category": "UNCERTAIN", "direction": "backward",
                   "register": "chart", "max_scope": 1}],
        "boundaries": {"speech_markers": ["我"]},
        "dialogue": {"speakers": ["医生", "患者"], "separators": ["："]},
    }  # fmt: skip
    path = tmp_path / "rules.json"
    srsly.write_json(path, rules)
    nlp = build(path)
    check(nlp, "[肺炎/DIS/u]？")  # a chart's query
    check(nlp, "患者：[肺炎/DIS/a]？")  # a line of a dialogue is speech


# --- the cue behind each attribute --------------------------------------------


def test_each_attribute_names_its_cue_with_offsets(ctx):
    text, ents = parse("我爸没有[高血压/DIS/nf]。")
    ent = run(ctx, text, ents).ents[0]
    assert ent._.context_cues == [
        {"attribute": "negated", "cue": "没有", "start": 2, "end": 4},
        {"attribute": "family", "cue": "我爸", "start": 0, "end": 2},
    ]
    assert ent._.negex is ent._.negated is True  # negspacy's name reads the same value


def test_no_cue_where_nothing_is_set_and_none_for_double_negation(ctx):
    assert cues_of(ctx, "今天[头疼/SYM/a]。") == []
    assert cues_of(ctx, "没有一天不[头疼/SYM/a]的。") == []


def test_cue_offsets_count_spaces(ctx):
    assert cues_of(ctx, "He said  没有 [fever/SYM/n]") == [("negated", "没有", 9, 11)]


# --- the rules as data ------------------------------------------------------


@pytest.mark.parametrize(
    "rule,message",
    [
        ({"literal": "不", "category": "NEGATED", "inside": True}, "inside must be one of"),
        ({"literal": "好了", "category": "NEGATED", "soft": "yes"}, "soft must be true or false"),
        ({"literal": "他妈", "category": "FAMILY", "soft": True}, "a soft rule has one category"),
        (
            {"literal": "好了", "category": ["NEGATED", "HISTORICAL"], "soft": True},
            "a soft rule has one category",
        ),
        ({"literal": "不", "category": "NEGATED", "max_gap": -1}, "max_gap must be an integer"),
    ],
)
def test_new_rule_keys_are_checked(rule, message):
    with pytest.raises(RulesError, match=message):
        validate_rules({"rules": [rule]}, "my_rules.json")


def test_a_bad_rule_names_file_and_line(tmp_path):
    path = tmp_path / "rules.json"
    good = '{"literal": "无", "category": "NEGATED"}'
    path.write_text(
        '{\n "rules": [\n  ' + good + ',\n  {"literal": "无", "category": "NEGATD"}\n ]\n}\n',
        encoding="utf8",
    )
    with pytest.raises(RulesError, match=rf"{path}:4 \(无\): category must be one of"):
        read_rules(path)
    path.write_text('{"rules": [\n' + good + ",\n]}", encoding="utf8")
    with pytest.raises(RulesError, match=rf"{path}:3: invalid JSON"):
        read_rules(path)


def test_sentence_ends_in_old_rules_are_ignored_with_a_warning():
    with pytest.warns(UserWarning, match="sentence ends come from the pipeline's sentencizer"):
        validate_rules({"rules": [], "boundaries": {"sentence": ["。"]}}, "old.json")
    with pytest.raises(RulesError, match="unknown key"):
        validate_rules({"rules": [], "sentences": []}, "old.json")


def test_shipped_rules_name_a_line_for_every_rule():
    data = read_rules(RULES)
    assert data["dialogue"]["speakers"] and data["normalise"]["沒"] == "没"


# --- context_cues in the outputs ----------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return spacy.load(save_small_pipeline(tmp_path_factory.mktemp("small") / "pipeline"))


def test_the_record_of_the_api_and_the_batch_carries_the_cues(small):
    doc = small("患者否认高血压病史，近三天胃痛。")
    record = doc_record(doc, context_keys(small)).model_dump()
    by_text = {e["text"]: e for e in record["ents"]}
    assert by_text["高血压"]["context_cues"] == [
        {"attribute": "negated", "cue": "否认", "start": 2, "end": 4}
    ]
    assert by_text["胃痛"]["context_cues"] == []


def test_the_batch_output_has_a_cues_field(small, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "无发热，考虑肺炎。"}) + "\n", encoding="utf8")
    annotate_file(small, src, out)
    (row,) = [json.loads(line) for line in out.read_text(encoding="utf8").splitlines()]
    cues = {e["text"]: e["context_cues"] for e in row["entities"]}
    assert cues == {
        "发热": [{"attribute": "negated", "cue": "无", "start": 0, "end": 1}],
        "肺炎": [{"attribute": "uncertain", "cue": "考虑", "start": 4, "end": 6}],
    }


def test_the_page_shows_the_cue_on_hover(small):
    doc = small("患者否认高血压病史，近三天胃痛。")
    record = doc_record(doc, context_keys(small)).model_dump()
    markup = ents_html(record["text"], record["ents"])
    assert 'title="negated (cue: 否认 at 2)"' in markup
