"""The CMeKG drug dictionary: safe loading, filters, variants, brand -> generic
ids, and the committed assets/drug_patterns.json."""

import collections
import io
import os
import pickle
import tarfile

import pytest
import spacy
import srsly

from zh_medner.dictionary.cmekg import RestrictedUnpickler, drug_names, load_cmekg, safe_loads
from zh_medner.dictionary.morphology import dosage_variants, split_form, strip_salt
from zh_medner.dictionary.patterns import build_patterns
from zh_medner.dictionary.wordlists import clean_name, is_precise_name, reject_reason

from .conftest import ROOT, load_script

PATTERNS = ROOT / "assets" / "drug_patterns.json"


# --------------------------------------------------------------------------
# safe loading
# --------------------------------------------------------------------------


class _RunsCommand:
    """Unpickling this calls os.system(command) under a plain pickle.loads."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_unpickler_refuses_code_and_runs_nothing(tmp_path, protocol):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_RunsCommand(f"touch {marker}"), protocol=protocol)
    with pytest.raises(pickle.UnpicklingError, match="system"):
        safe_loads(payload)
    assert not marker.exists()


def test_unpickler_refuses_any_class():
    payload = pickle.dumps(collections.OrderedDict(a=["b"]), protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="collections.OrderedDict"):
        RestrictedUnpickler(io.BytesIO(payload)).load()
    payload = pickle.dumps({"x": collections.Counter("ab")}, protocol=0)
    with pytest.raises(pickle.UnpicklingError, match="Counter"):
        safe_loads(payload)


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_unpickler_accepts_builtins(protocol):
    data = {"阿莫西林胶囊": {"商品名": ["阿莫仙"], "n": [1, 2.5, None, True]}, "t": ("a",)}
    assert safe_loads(pickle.dumps(data, protocol=protocol)) == data


def _sdist(tmp_path, obj=None, payload=None):
    payload = payload if payload is not None else pickle.dumps(obj, protocol=0)
    path = tmp_path / "PyCMeKG-0.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in [
            ("PyCMeKG-0.0/LICENSE", b"MIT"),
            ("PyCMeKG-0.0/pyCMeKG/model/cmekg.pkl", payload),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_load_cmekg_reads_pickle_from_sdist(tmp_path):
    kg = {"格华止": {"通用名": ["盐酸二甲双胍片"]}}
    assert load_cmekg(_sdist(tmp_path, kg)) == kg


def test_load_cmekg_refuses_malicious_sdist(tmp_path):
    marker = tmp_path / "pwned"
    path = _sdist(tmp_path, payload=pickle.dumps(_RunsCommand(f"touch {marker}")))
    with pytest.raises(pickle.UnpicklingError):
        load_cmekg(path)
    assert not marker.exists()


# --------------------------------------------------------------------------
# filters and variants
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, reason",
    [
        ("氧", "too_short"),
        ("欣", "too_short"),
        ("999", "latin_or_number"),
        ("H22022092", "latin_or_number"),
        ("Tab.SASP", "latin_or_number"),
        ("Abraxane", "latin_or_number"),
        ("0号", "code"),
        ("E豆", "code"),
        ("Z22024892龙胆", "code"),
        ("阿莫西林/克拉维酸钾片", "junk_text"),
        ("氨酚那敏片、维B1那敏片复合包装", "junk_text"),
        ("西地碘含片英文名称：Cydiodine", "junk_text"),
        ("阿司匹林0.3克片", "dosage_spec"),
        ("安定", "everyday_word"),
        ("好医生", "everyday_word"),
        ("辣椒", "everyday_word"),
        ("淀粉", "everyday_word"),
        ("葡萄糖", "everyday_word"),
        ("血片", "everyday_word"),
    ],
)
def test_rejected_names(name, reason):
    assert reject_reason(name) == reason
    assert not is_precise_name(name)


def test_non_drug_terms_are_rejected():
    assert reject_reason("头痛宁", non_drug_terms={"头痛宁"}) == "non_drug_term"


@pytest.mark.parametrize(
    "name",
    [
        "阿莫西林",
        "阿莫西林胶囊",
        "二甲双胍",
        "格华止",
        "维生素B12",
        "两性霉素B",
        "肝素",
        "六味地黄丸",
        "注射用头孢曲松钠",
        "复方甘草片",
        "人血白蛋白",
    ],
)
def test_real_names_are_accepted(name):
    assert is_precise_name(name), reject_reason(name)


def test_clean_name_strips_notes_and_specs():
    assert clean_name("通用名称：阿莫西林胶囊") == "阿莫西林胶囊"
    assert clean_name("博欣（液体）") == "博欣"
    assert clean_name("二甲双胍格列本脲胶囊（I）") == "二甲双胍格列本脲胶囊"
    assert clean_name("0.9%氯化钠注射液") == "氯化钠注射液"
    assert clean_name("米非司酮片10mg") == "米非司酮片"
    assert clean_name("安平 10%") == "安平"
    assert clean_name("盐酸曲马多注射液[药典]") == "盐酸曲马多注射液"
    assert clean_name("锝[99mTc]植酸盐注射液") == "锝[99mTc]植酸盐注射液"  # isotope kept


def test_split_form_and_salts():
    assert split_form("阿莫西林胶囊") == ("阿莫西林", "胶囊")
    assert split_form("盐酸二甲双胍缓释片") == ("盐酸二甲双胍", "缓释片")
    assert split_form("注射用头孢曲松钠") == ("头孢曲松钠", "注射用")
    assert split_form("阿莫西林") == ("阿莫西林", None)
    assert split_form("咪康唑阴道胶囊") == ("咪康唑", "阴道胶囊")
    assert split_form("阿昔洛韦葡萄糖注射液") == ("阿昔洛韦", "葡萄糖注射液")
    assert split_form("葡萄糖氯化钠注射液") == ("葡萄糖氯化钠", "注射液")  # the drug itself
    assert split_form("吸入用硫酸沙丁胺醇溶液") == ("硫酸沙丁胺醇", "吸入用溶液")
    assert strip_salt("盐酸二甲双胍") == "二甲双胍"
    assert strip_salt("肝素钠") == "肝素"
    assert strip_salt("瑞舒伐他汀钙") == "瑞舒伐他汀"
    for inorganic in [
        "氯化钠",
        "碳酸氢钠",
        "硫酸镁",
        "葡萄糖酸钙",
        "硫酸亚铁",
        "活性钙",
        "硝酸甘油",
        "五维葡钙",
        "乳酸菌素",
        "乳酸亚铁片",
    ]:
        assert strip_salt(inorganic) == inorganic


def test_dosage_variants():
    assert dosage_variants("阿莫西林胶囊") == {"阿莫西林", "阿莫西林片"}
    assert dosage_variants("阿莫西林") == {"阿莫西林片", "阿莫西林胶囊"}
    assert dosage_variants("注射用头孢曲松钠") == {"头孢曲松钠", "头孢曲松钠注射液"}
    assert dosage_variants("红霉素软膏") == {"红霉素"}  # topical: no invented forms
    for name in ["阿莫西林胶囊", "阿莫西林", "头孢曲松钠注射液", "布洛芬缓释胶囊"]:
        assert 0 < len(dosage_variants(name)) <= 3
        assert name not in dosage_variants(name)


# --------------------------------------------------------------------------
# brand -> generic linking on a hand-written graph shaped like CMeKG
# --------------------------------------------------------------------------

SMALL_KG = {
    # generic subjects list their brands under 商品名
    "阿莫西林胶囊": {
        "商品名": ["阿莫仙", "阿莫灵", "哈药"],
        "成份": ["阿莫西林", "淀粉"],
        "OTC类型": ["甲类OTC"],
    },
    "盐酸二甲双胍片": {"商品名": ["格华止", "美迪康"], "成份": ["盐酸二甲双胍", "二甲双胍"]},
    # brand subjects point at their generic with 通用名
    "格华止": {"通用名": ["盐酸二甲双胍片"], "成份": ["盐酸二甲双胍"]},
    "阿莫仙": {"通用名": ["阿莫西林胶囊"]},
    "可定": {"通用名": ["瑞舒伐他汀钙片"]},  # two-character brand: dropped
    "瑞舒伐他汀钙片": {"成份": ["瑞舒伐他汀钙"], "药品类型": ["处方药"]},
    # reversed by CMeKG: a generic subject whose 通用名 is a brand
    "卡维地洛片": {"通用名": ["瑞欣乐"], "成份": ["卡维地洛"]},
    # the 和 artifact: 通用名 of 和胃片 is "胃片"
    "和胃片": {"通用名": ["胃片"], "商品名": ["胃片"], "成份": ["党参"]},
    # TCM product whose stem is not a known drug
    "六味地黄丸": {"成份": ["熟地黄", "山药"], "OTC类型": ["甲类OTC"]},
    # disease and herb subjects are not drugs
    "高血压": {"常见症状": ["头痛", "头晕"], "就诊科室": ["心内科"]},
    "辣椒": {"界": ["植物界"], "科": ["茄科"], "性味": ["辛"]},
}


@pytest.fixture(scope="module")
def small_patterns():
    stats = {}
    patterns = build_patterns(SMALL_KG, stats)
    return {p["pattern"]: p["id"] for p in patterns}, patterns, stats


def test_drug_names_links_brands(small_kg=SMALL_KG):
    pairs = set(drug_names(small_kg))
    assert ("格华止", "盐酸二甲双胍片") in pairs
    assert ("阿莫仙", "阿莫西林胶囊") in pairs
    assert ("瑞欣乐", "卡维地洛片") in pairs  # flipped
    assert ("卡维地洛片", "瑞欣乐") not in pairs
    assert ("胃片", "和胃片") not in pairs and ("和胃片", "胃片") not in pairs
    assert ("和胃片", "和胃片") in pairs
    assert not any(n in ("高血压", "辣椒") for n, _ in pairs)


def test_brand_ids_point_at_generic(small_patterns):
    ids, _, stats = small_patterns
    assert ids["格华止"] == "二甲双胍"
    assert ids["美迪康"] == "二甲双胍"
    assert ids["盐酸二甲双胍片"] == "二甲双胍"
    assert ids["二甲双胍"] == "二甲双胍"  # a generic maps to itself
    assert ids["阿莫仙"] == "阿莫西林"
    assert ids["阿莫灵"] == "阿莫西林"
    assert ids["阿莫西林胶囊"] == "阿莫西林"
    assert ids["阿莫西林"] == "阿莫西林"
    assert ids["阿莫西林片"] == "阿莫西林"  # invented oral form of the generic
    assert ids["瑞欣乐"] == "卡维地洛"
    assert ids["瑞舒伐他汀钙片"] == "瑞舒伐他汀"
    assert ids["六味地黄丸"] == "六味地黄丸"
    assert "六味地黄" not in ids  # unknown stem: no variant
    assert stats["brand_links"] >= 5


def test_small_kg_filters(small_patterns):
    ids, patterns, stats = small_patterns
    for dropped in ["哈药", "可定", "胃片", "高血压", "辣椒", "头痛"]:
        assert dropped not in ids
    assert stats["dropped"]["short_brand"] >= 1
    assert [p["pattern"] for p in patterns] == sorted(ids)
    assert build_patterns(SMALL_KG) == patterns  # deterministic


def test_conflicts_resolve_deterministically():
    kg = {
        "甲药片": {"商品名": ["同名欣"], "成份": ["甲药"]},
        "乙药片": {"商品名": ["同名欣"], "成份": ["乙药"]},
    }
    stats = {}
    first = build_patterns(kg, stats)
    assert stats["conflicts"] == 1
    # same rank and count: the generic that sorts first (by code point) wins
    assert {p["pattern"]: p["id"] for p in first}["同名欣"] == min("甲药", "乙药")
    assert build_patterns(dict(reversed(list(kg.items())))) == first


# --------------------------------------------------------------------------
# the committed patterns file
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def committed():
    if not PATTERNS.exists():
        pytest.fail(f"{PATTERNS} is missing: run scripts/build_drug_patterns.py")
    return srsly.read_json(PATTERNS)


def test_committed_patterns_shape(committed):
    assert isinstance(committed, list) and len(committed) > 10000
    names = [p["pattern"] for p in committed]
    assert len(names) == len(set(names)), "duplicate patterns"
    assert names == sorted(names)
    for p in committed:
        assert set(p) == {"label", "pattern", "id"}
        assert p["label"] == "DRU"
        assert isinstance(p["id"], str) and p["id"]
        assert isinstance(p["pattern"], str) and len(p["pattern"]) >= 2
        assert p["pattern"] == p["pattern"].strip()
    for word in ["安定", "葡萄糖", "淀粉", "好医生", "可定", "血片", "胃片"]:
        assert word not in set(names), word
    assert PATTERNS.stat().st_size < 3_000_000


def test_committed_patterns_tag_text(committed):
    nlp = spacy.blank("zh")
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "ORTH"})
    ruler.add_patterns(committed)
    doc = nlp("口服阿莫西林胶囊0.5g，格华止0.5g，每日三次")
    ents = [(e.text, e.label_, e.ent_id_) for e in doc.ents]
    assert ("阿莫西林胶囊", "DRU", "阿莫西林") in ents
    assert ("格华止", "DRU", "二甲双胍") in ents
    doc = nlp("予头孢曲松抗感染，肝素钠抗凝")
    assert [(e.text, e.ent_id_) for e in doc.ents] == [("头孢曲松", "头孢曲松"), ("肝素钠", "肝素")]


# --------------------------------------------------------------------------
# the build script
# --------------------------------------------------------------------------


def test_build_script_writes_json_array(tmp_path, capsys):
    script = load_script("build_drug_patterns")
    sdist = _sdist(tmp_path, SMALL_KG)  # PyCMeKG-0.0.tar.gz, as pip names it
    out = tmp_path / "assets" / "drug_patterns.json"
    out.parent.mkdir()
    out.write_text("old", encoding="utf8")
    script.main(sdist, out)
    assert srsly.read_json(out) == build_patterns(SMALL_KG)
    assert out.read_text(encoding="utf8").startswith("[\n{")
    assert sorted(p.name for p in out.parent.iterdir()) == ["drug_patterns.json"]  # no temp left
    printed = capsys.readouterr().out
    assert "brand -> generic links" in printed and "short_brand" in printed
