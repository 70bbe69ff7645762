"""Drug dictionary for the ``entity_ruler``, built from CMeKG (PyPI ``pycmekg``).

CMeKG ships as ``pyCMeKG/model/cmekg.pkl`` inside the ``pycmekg`` sdist: a
pickle of builtin objects only, ``{subject: {predicate: [object, ...]}}``.
Drug subjects carry predicates such as 通用名 (generic name, on brand
subjects), 商品名 (brand names, on generic subjects), 成份, 药品类型, 规格 ...

``build_patterns(kg)`` turns the drug part of it into entity_ruler patterns
``{"label": "DRU", "pattern": name, "id": generic}``.  The ``id`` is the
generic (active ingredient) name: the CMeKG 通用名 with bracketed notes, the
dosage form (片, 胶囊, 注射用 ...) and salt words (盐酸 ..., ...钠) removed
when what is left is a drug name in its own right.  So 阿莫西林胶囊,
阿莫西林, and the brand 阿莫仙 (通用名 阿莫西林胶囊) all get the id 阿莫西林,
and a generic maps to itself.  A product whose stem is not a known drug
keeps its own name as id (六味地黄丸 -> 六味地黄丸).

This module imports nothing from the rest of ``zh_medner``.
"""

from __future__ import annotations

import io
import pickle
import re
import tarfile
from collections import Counter, defaultdict
from typing import Dict, Iterable, Iterator, List, Optional, Set, Tuple

LABEL = "DRU"

# --------------------------------------------------------------------------
# Safe loading
# --------------------------------------------------------------------------


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global (class or function).

    Only data that pickle encodes with plain opcodes loads: dict, list,
    tuple, set, str, bytes, int, float, bool, None.  Anything that needs
    ``find_class`` (an object, ``collections.OrderedDict``, ``os.system`` in
    a ``__reduce__``) raises ``pickle.UnpicklingError`` before it can run.
    """

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(
            f"refusing to load global {module}.{name}: only builtin data is allowed"
        )


def safe_loads(data: bytes):
    """Unpickle ``data`` without resolving any class or function."""
    return RestrictedUnpickler(io.BytesIO(data)).load()


def read_pickle_from_sdist(sdist_path, member_suffix: str = "cmekg.pkl") -> bytes:
    """Bytes of the one archive member whose name ends in ``member_suffix``."""
    with tarfile.open(sdist_path, mode="r:*") as tar:
        members = [
            m for m in tar.getmembers() if m.isfile() and m.name.endswith(member_suffix)
        ]
        if len(members) != 1:
            raise ValueError(
                f"expected one member ending in {member_suffix!r} in {sdist_path}, "
                f"found {[m.name for m in members]}"
            )
        fileobj = tar.extractfile(members[0])
        if fileobj is None:  # pragma: no cover - isfile() was checked
            raise ValueError(f"cannot read {members[0].name} from {sdist_path}")
        return fileobj.read()


def load_cmekg(sdist_path) -> Dict[str, Dict[str, List[str]]]:
    """Load the CMeKG graph ``{subject: {predicate: [objects]}}`` from the
    pycmekg sdist (.tar.gz), without extracting it and without unpickling
    any class."""
    kg = safe_loads(read_pickle_from_sdist(sdist_path))
    if not isinstance(kg, dict):
        raise ValueError(f"unexpected CMeKG pickle root type {type(kg).__name__}")
    return kg


# --------------------------------------------------------------------------
# Which subjects are drugs
# --------------------------------------------------------------------------

DRUG_PREDICATES = frozenset(
    {"通用名", "商品名", "成份", "药品类型", "规格", "OTC类型", "药品监管分级",
     "用法用量", "贮藏", "有效期"}
)
# classical TCM formulae (温胆汤, 五皮散): 出处 plus composition/function
FORMULA_PREDICATES = frozenset({"组成", "功用", "主治"})
# plants / materia medica (界 门 纲 ... 入药部位 性味)
HERB_PREDICATES = frozenset(
    {"入药部位", "性味", "界", "门", "纲", "目", "科", "属", "种", "采收时间"}
)
DISEASE_PREDICATES = frozenset(
    {"常见症状", "就诊科室", "ICD10", "常见病因", "常见发病部位", "多发群体",
     "传染性", "并发症", "检查"}
)
# Objects of these predicates are symptom / body-site / test / department
# terms.  适应症, 不良反应 and 相关疾病 are left out: they list drugs too.
NON_DRUG_OBJECT_PREDICATES = (
    "常见症状", "相关症状", "临床症状及体征", "常见发病部位", "发病部位",
    "检查", "就诊科室",
)
# an herb becomes a pattern only when this many CMeKG drugs list it in 成份
HERB_MIN_PRODUCTS = 10


def is_herb(props: dict) -> bool:
    return len(HERB_PREDICATES & props.keys()) >= 2


def is_disease(props: dict) -> bool:
    return bool(DISEASE_PREDICATES & props.keys())


def is_drug(props: dict) -> bool:
    return bool(DRUG_PREDICATES & props.keys()) and not is_herb(props) and not is_disease(props)


def is_formula(props: dict) -> bool:
    return (
        "出处" in props
        and bool(FORMULA_PREDICATES & props.keys())
        and not is_herb(props)
        and not is_disease(props)
        and not is_drug(props)
    )


# --------------------------------------------------------------------------
# Dosage forms and salts
# --------------------------------------------------------------------------


def _longest_first(words: Iterable[str]) -> Tuple[str, ...]:
    return tuple(sorted(set(words), key=lambda s: (-len(s), s)))


ORAL_SUFFIXES = frozenset({
    "片", "缓释片", "控释片", "肠溶片", "分散片", "咀嚼片", "泡腾片", "含片",
    "口腔崩解片", "口崩片", "舌下片", "薄膜衣片", "糖衣片", "胶囊", "缓释胶囊",
    "控释胶囊", "肠溶胶囊", "软胶囊", "硬胶囊", "胶丸", "滴丸", "颗粒", "颗粒剂",
    "冲剂", "干混悬剂", "混悬液", "混悬剂", "口服液", "口服溶液", "糖浆", "合剂",
    "丸", "散", "缓释微丸", "微丸", "散剂", "丸剂", "片剂", "胶囊剂", "口内崩解片",
})
INJECTABLE_SUFFIXES = frozenset(
    {"注射液", "注射剂", "粉针", "粉针剂", "输液", "注射用乳剂", "注射用液"}
)
OTHER_SUFFIXES = frozenset({
    "溶液", "滴剂", "滴眼液", "眼膏", "眼用凝胶", "滴耳液", "滴鼻液", "鼻喷雾剂",
    "喷雾剂", "气雾剂", "吸入剂", "粉雾剂", "吸入粉雾剂", "软膏", "乳膏", "凝胶",
    "贴剂", "贴片", "栓", "栓剂", "搽剂", "洗剂", "酊", "酊剂", "乳剂", "阴道片",
    "阴道泡腾片", "粘贴片", "胶浆", "雾化液", "雾化吸入溶液", "吸入溶液", "喷剂",
    "鼻喷剂",
})
FORM_SUFFIXES = _longest_first(ORAL_SUFFIXES | INJECTABLE_SUFFIXES | OTHER_SUFFIXES)
INJECTABLE_PREFIXES = frozenset({"注射用", "静注", "静脉注射用"})
FORM_PREFIXES = _longest_first(INJECTABLE_PREFIXES | {"吸入用", "外用", "口服"})
# forms invented for a generic, for the route its CMeKG products have
ORAL_VARIANTS = ("片", "胶囊")
INJECTABLE_VARIANTS = ("注射液",)
INJECTABLE_PREFIX = "注射用"

# leading salt words: 盐酸二甲双胍 -> 二甲双胍
SALT_PREFIXES = _longest_first({
    "盐酸", "硫酸", "马来酸", "酒石酸", "重酒石酸", "枸橼酸", "甲磺酸", "苯磺酸",
    "富马酸", "琥珀酸", "磷酸", "醋酸", "乳酸", "硝酸", "氢溴酸", "门冬氨酸",
    "甲硫酸", "丙酸", "戊酸", "对甲苯磺酸", "乙磺酸", "苯甲酸", "盐酸左旋",
})
# trailing cations: 肝素钠 -> 肝素, 氯沙坦钾 -> 氯沙坦, 瑞舒伐他汀钙 -> 瑞舒伐他汀
SALT_SUFFIXES = _longest_first({"钠", "二钠", "钾", "钙", "镁"})
_ION_CHARS = "钠钾钙镁锌铁铝铵锂铜银汞钡铋锰硒锶"
# what is left of an inorganic salt or acid: 氯化(钠), 碳酸氢(钠), 枸橼酸(钠)
# (葡 / 磷 / 合 / 磺: 五维葡钙, 维磷葡钙, 氨基酸螯合钙, 二巯丙磺钠)
_INORGANIC_ENDINGS = tuple("化氢酸盐葡磷合磺") + tuple(_ION_CHARS)


# words glued in front of a form (阴道胶囊, 吸入气雾剂, 泡腾颗粒, 缓释贴片)
FORM_MODIFIERS = _longest_first(
    {"阴道", "泡腾", "缓释", "肠溶", "控释", "吸入", "鼻用", "鼻", "外用", "口腔", "舌下", "眼用"}
)
_NON_ORAL_MODIFIERS = ("阴道", "吸入", "鼻", "外用", "眼用")
# infusion carriers: 阿昔洛韦葡萄糖注射液, 乳酸左氧氟沙星氯化钠注射液
INFUSION_CARRIERS = _longest_first({"葡萄糖氯化钠", "葡萄糖", "氯化钠"})


def split_form(name: str) -> Tuple[str, Optional[str]]:
    """Split the dosage form off ``name``: 阿莫西林胶囊 -> (阿莫西林, 胶囊),
    注射用头孢曲松钠 -> (头孢曲松钠, 注射用), 咪康唑阴道胶囊 -> (咪康唑, 阴道胶囊),
    阿昔洛韦葡萄糖注射液 -> (阿昔洛韦, 葡萄糖注射液), 吸入用布地奈德混悬液 ->
    (布地奈德, 吸入用混悬液); (name, None) when there is none."""
    stem, prefix, suffix = name, "", ""
    for p in FORM_PREFIXES:
        if stem.startswith(p) and len(stem) > len(p):
            stem, prefix = stem[len(p):], p
            break
    for s in FORM_SUFFIXES:
        if stem.endswith(s) and len(stem) > len(s):
            stem, suffix = stem[: -len(s)], s
            changed = True
            while changed:
                changed = False
                for mod in FORM_MODIFIERS:
                    if stem.endswith(mod) and len(stem) > len(mod) + 1:
                        stem, suffix, changed = stem[: -len(mod)], mod + suffix, True
                        break
            for carrier in INFUSION_CARRIERS:
                rest = stem[: -len(carrier)]
                if stem.endswith(carrier) and len(rest) >= 3 and not rest.endswith(INFUSION_CARRIERS):
                    stem, suffix = rest, carrier + suffix
                    break
            break
    return stem, (prefix + suffix) or None


def form_route(form: Optional[str]) -> str:
    """'injectable', 'oral' (also for no form) or 'other' (topical, eye ...)."""
    if form is None:
        return "oral"
    if form.startswith(tuple(INJECTABLE_PREFIXES)) or form.endswith(tuple(INJECTABLE_SUFFIXES)):
        return "injectable"
    if any(m in form for m in _NON_ORAL_MODIFIERS) or form.startswith(("吸入用", "外用")):
        return "other"
    if form.startswith("口服"):
        return "oral"
    base = next((s for s in FORM_SUFFIXES if form.endswith(s)), None)
    return "oral" if base in ORAL_SUFFIXES else "other"


def strip_salt(name: str) -> str:
    """The active moiety of a salt name, or ``name`` unchanged.

    盐酸二甲双胍 -> 二甲双胍, 肝素钠 -> 肝素, 盐酸万古霉素 -> 万古霉素;
    inorganic salts stay whole: 硫酸镁, 氯化钠, 碳酸氢钠, 葡萄糖酸钙.  Meant
    for substance names: a product name (乳酸亚铁片) is returned unchanged.
    """
    if split_form(name)[1] is not None:
        return name
    for salt in SALT_PREFIXES:
        if name.startswith(salt):
            rest = name[len(salt):].lstrip("—－-")
            # (乳酸菌 is a bacterium, not a lactate)
            if len(rest) >= 3 and rest[0] not in _ION_CHARS + "菌" and not rest.endswith(_INORGANIC_ENDINGS):
                name = rest
            break
    for salt in SALT_SUFFIXES:
        if name.endswith(salt):
            rest = name[: -len(salt)]
            long_enough = len(rest) >= 3 or (len(rest) == 2 and rest.endswith("素"))  # 肝素钠
            if long_enough and not rest.endswith(_INORGANIC_ENDINGS) and rest not in SALT_PREFIXES:
                name = rest
            break
    return name


# endings that mark a product name (for telling generic from brand only)
_PRODUCT_ENDINGS = ("液", "膏", "丹", "茶", "露", "锭", "汤", "饮", "霜", "粉", "剂", "疫苗")


def looks_generic(name: str) -> bool:
    """A generic product name carries a dosage form (片, 注射用, 液 ...);
    brands mostly do not (格华止, 再林)."""
    return split_form(name)[1] is not None or name.endswith(_PRODUCT_ENDINGS)


def route_variants(base: str, form: Optional[str]) -> Set[str]:
    """Common forms of ``base`` for the route of ``form``: oral (or none) ->
    base片, base胶囊; injectable -> base注射液, 注射用base; topical, eye drops
    ... -> nothing."""
    route = form_route(form)
    if route == "injectable":
        return {base + f for f in INJECTABLE_VARIANTS} | {INJECTABLE_PREFIX + base}
    if route == "oral":
        return {base + f for f in ORAL_VARIANTS}
    return set()


def dosage_variants(name: str) -> Set[str]:
    """Variants of ``name`` with and without its dosage form (at most 3).

    阿莫西林胶囊 -> {阿莫西林, 阿莫西林片}; 阿莫西林 -> {阿莫西林片, 阿莫西林胶囊};
    注射用头孢曲松钠 -> {头孢曲松钠, 头孢曲松钠注射液}; 红霉素软膏 -> {红霉素}.
    Unfiltered: the caller keeps those that pass ``is_precise_name``.
    """
    stem, form = split_form(name)
    out = route_variants(stem, form)
    if form is not None:
        out.add(stem)
    out.discard(name)
    return out


# --------------------------------------------------------------------------
# Cleaning and filtering names
# --------------------------------------------------------------------------

MIN_LEN = 2
MAX_LEN = 25
MIN_BRAND_LEN = 3  # two-character brands (可定, 天可, 平坦) hit ordinary text

_CJK = re.compile(r"[\u3400-\u9fff]")
_BRACKETS = re.compile(
    r"（[^（）]*）|\([^()]*\)|【[^【】]*】|\[[^\[\]]*[\u3400-\u9fff][^\[\]]*\]"
)
_LEAD_LABEL = re.compile(r"^(?:通用名称|通用名|商品名称|商品名|药品名称|主要成份|成份)[:：]?")
_UNIT = r"(?:mg|g|kg|ml|mL|l|L|μg|ug|mcg|iu|IU|u|U|万单位|万IU|单位|毫克|克|毫升|微克|%|％)"
_LEAD_SPEC = re.compile(r"^\d+(?:\.\d+)?" + _UNIT)
_TRAIL_SPEC = re.compile(r"(?:\d+(?:\.\d+)?" + _UNIT + r"|\d+(?:粒|片|丸|袋|支|瓶|盒|贴))$")
_SPEC_ANYWHERE = re.compile(r"\d+(?:\.\d+)?(?:mg|g|ml|mL|μg|ug|毫克|克|毫升|微克|万单位)")
_SEPARATORS = re.compile(r"[、，,；;：:/\\|。？?！!\"“”‘’《》<>*＊+＋~～…（）()\[\]【】]")
_CODE = re.compile(r"^[A-Za-z]*\d+[A-Za-z]*$|[A-Z]\d{6,}|国药准字")
# packaging, manufacturer and note text
_JUNK_WORDS = (
    "原名", "别名", "商标", "药业", "制药", "公司", "集团", "有限", "药厂", "本品",
    "复方制剂", "包装", "英文", "名称", "规格", "每片", "每粒", "每袋", "每支",
    "含量", "供诊断用", "辅料",
)

# Everyday or ambiguous words among CMeKG drug/brand names and their stems,
# picked by reading the candidates: those that are common words in general
# text (jieba's word list was a reading aid, not a dependency), company or
# person names used as brands, foods and spices, and substances whose matches
# in CMeEE train text were mostly not drugs (body substances, lab items).
EVERYDAY_WORDS = frozenset("""
安定 好得快 好医生 感叹号 阿修罗 阿特拉 阿斯特拉 阿瑞斯 莫尼卡 康乃尔 爱普生
里亚尔 奥罗亚 施华洛 白云山 天士力 康恩贝 白头山 镇南王 修正 哈药 仁和 晕动病
海藻 珍珠 珍珠粉 荷叶 辣椒 胡椒 猕猴桃 木瓜 乌鸡 豆油 木糖醇 桑椹 青果 刀豆 八宝粥
草果 八角茴香 小茴香 鱼鳔 猴头菌 蜂蜡 蜂房 蜂蜜 檀香 石膏 磁石 方解石 鹿角 哑门
生姜 大枣 红枣 山楂 山药 薏苡仁 莲子 芡实 赤小豆 菊花 薄荷 花椒 龙眼肉 百合
麦芽 牡蛎 橘红 白前 白及 儿茶 天冬 槟榔 医用氧 氧气 酒精
淀粉 蔗糖 果糖 乳糖 糊精 甘油 滑石 滑石粉 硬脂酸 硬脂酸镁 香精
尿素 凝血酶 胃蛋白酶 糜蛋白酶 溶菌酶 纤溶酶 胱氨酸 谷氨酸 精氨酸 赖氨酸 牛磺酸
腺苷 腺嘌呤 卵磷脂 核糖核酸 谷胱甘肽 还原型谷胱甘肽 细胞色素C 硫酸软骨素 软骨素
氨基葡萄糖 胆固醇 胆红素 尿酸 乳酸 活性 大蒜 蛋白质 白蛋白
""".split())
# Drug names that CMeEE text mostly uses for something else: matched in CMeEE
# train, fewer than 40% of their >= 10 matches touched a gold DRU span
# (血葡萄糖, 胰岛素抵抗, 维生素D缺乏, 维生素K依赖因子, 氨基酸代谢; 维生素B is
# mostly the head of 维生素B<sub>6</sub>).  Longer names (葡萄糖注射液,
# 胰岛素注射液, 维生素K1) stay.
AMBIGUOUS_SUBSTANCES = frozenset(
    "葡萄糖 口服葡萄糖 胰岛素 氨基酸 维生素B 维生素D 维生素K".split()  # 口服葡萄糖耐量试验
)
# General words that are not drug names (classes, forms, TCM function phrases)
GENERAL_WORDS = frozenset("""
中药 西药 药物 药品 制剂 针剂 抗生素 激素 疫苗 营养液 平衡液
止咳 止痛 止血 消炎 镇痛 退热 降压 降糖 补血 活血 清热 解毒 通便 安眠
清热解毒 活血化瘀 止咳化痰 补中益气 血片 胃片 复方 口服 外用 小儿
""".split())


def _strip_brackets(name: str) -> str:
    prev = None
    while prev != name:
        prev, name = name, _BRACKETS.sub("", name)
    return name


def clean_name(raw: str) -> str:
    """Normalise a raw CMeKG name: drop 'label:' prefixes, notes in brackets,
    whitespace, a leading concentration and trailing dosage specs.

    通用名称：阿莫西林胶囊 -> 阿莫西林胶囊; 博欣（液体） -> 博欣;
    0.9%氯化钠注射液 -> 氯化钠注射液; 米非司酮片10mg -> 米非司酮片.
    """
    name = raw.strip()
    prev = None
    while prev != name:
        prev, name = name, _LEAD_LABEL.sub("", name).strip()
    name = _strip_brackets(name)
    name = re.sub(r"\s+", "", name).replace("嚢", "囊")
    name = _LEAD_SPEC.sub("", name)
    prev = None
    while prev != name:
        prev, name = name, _TRAIL_SPEC.sub("", name)
    return name.strip("·.-—_")


def reject_reason(name: str, non_drug_terms: Iterable[str] = ()) -> Optional[str]:
    """Why ``name`` is not a precise drug pattern; None when it is one."""
    if len(name) < MIN_LEN:
        return "too_short"
    if len(name) > MAX_LEN:
        return "too_long"
    n_cjk = len(_CJK.findall(name))
    if n_cjk == 0:
        return "latin_or_number"
    if n_cjk < 2 or _CODE.search(name):
        return "code"
    if _SEPARATORS.search(name) or any(w in name for w in _JUNK_WORDS):
        return "junk_text"
    if _SPEC_ANYWHERE.search(name):
        return "dosage_spec"
    if name in EVERYDAY_WORDS or name in GENERAL_WORDS or name in AMBIGUOUS_SUBSTANCES:
        return "everyday_word"
    if name in non_drug_terms:
        return "non_drug_term"
    return None


def is_precise_name(name: str, non_drug_terms: Iterable[str] = ()) -> bool:
    """True when ``name`` is specific enough to tag as DRU wherever it occurs:
    at least 2 characters (2 of them Chinese), no number/code/Latin-only
    string, no packaging or note text, not an everyday word, and not one of
    ``non_drug_terms`` (CMeKG disease/symptom/body terms)."""
    return reject_reason(name, non_drug_terms) is None


# --------------------------------------------------------------------------
# Reading drug names out of the graph
# --------------------------------------------------------------------------


_HYDRATE = re.compile(r"(?:倍半|半|一|二|三|四|五|六|七|八)?水合物$|^是")


def ingredient_names(kg: dict) -> Counter:
    """Cleaned 成份 objects, counted over drug subjects (one per subject);
    hydrates count as the substance (头孢克肟三水合物 -> 头孢克肟)."""
    counts: Counter = Counter()
    for props in kg.values():
        if is_drug(props):
            counts.update({_HYDRATE.sub("", clean_name(o)) for o in props.get("成份", ())} - {""})
    return counts


def non_drug_terms(kg: dict, ingredients: Iterable[str] = ()) -> Set[str]:
    """Disease subjects plus symptom/body-site/test/department objects.

    CMeKG symptom lists are noisy (甲硝唑 is a 常见症状 of 药物相关性胃病), so
    objects that are also drug ingredients are not treated as non-drug terms.
    """
    ingredients = set(ingredients)
    terms: Set[str] = set()
    for subject, props in kg.items():
        if is_disease(props):
            terms.add(clean_name(subject))
        for pred in NON_DRUG_OBJECT_PREDICATES:
            terms.update(clean_name(o) for o in props.get(pred, ()) if clean_name(o) not in ingredients)
    terms.discard("")
    return terms


def _is_and_artifact(subject: str, obj: str) -> bool:
    # CMeKG cut a leading 和 off the 通用名/商品名 of 和胃片, 和血片 ... (和 = "and")
    return subject.startswith("和") and obj == subject[1:]


def drug_names(kg: dict) -> Iterator[Tuple[str, str]]:
    """Yield raw ``(name, generic)`` pairs from CMeKG, in subject order.

    A generic yields ``(generic, generic)``, a brand ``(brand, generic)``.
    A subject with 通用名 is a brand of that generic; a subject with 商品名
    is a generic and the objects its brands.  Where CMeKG has it backwards
    (卡维地洛片 通用名 瑞欣乐) the pair is flipped; where both sides are
    generic product names (再林 商品名 阿莫西林分散片), both stand alone.
    Classical formulae (温胆汤) and herbs used in at least
    ``HERB_MIN_PRODUCTS`` CMeKG drugs (当归, 甘草) stand alone too.
    """
    ingredients = ingredient_names(kg)
    for subject in sorted(kg):
        props = kg[subject]
        if is_formula(props):
            yield subject, subject
            continue
        if is_herb(props):
            if ingredients.get(clean_name(subject), 0) >= HERB_MIN_PRODUCTS:
                yield subject, subject
            continue
        if not is_drug(props):
            continue
        pairs = [(subject, g) for g in props.get("通用名", ()) if not _is_and_artifact(subject, g)]
        pairs += [(b, subject) for b in props.get("商品名", ()) if not _is_and_artifact(subject, b)]
        links: List[Tuple[str, str]] = []
        for brand, generic in pairs:
            brand_is_generic, generic_is_generic = looks_generic(brand), looks_generic(generic)
            if brand_is_generic and not generic_is_generic:
                brand, generic = generic, brand
            if brand_is_generic and generic_is_generic:
                links += [(brand, brand), (generic, generic)]
            else:
                links += [(generic, generic), (brand, generic)]
        if not any(b == subject and g != subject for b, g in links):
            yield subject, subject
        yield from links


# --------------------------------------------------------------------------
# Patterns
# --------------------------------------------------------------------------

# where a candidate came from; when one string maps to several generics the
# lowest rank wins, then the most frequent, then the alphabetically first
RANK_GENERIC, RANK_BRAND, RANK_VARIANT = 0, 1, 2


class PatternBuilder:
    """Collects (pattern, generic id) candidates, filters them, resolves
    conflicts and counts what it dropped."""

    def __init__(self, kg: dict):
        ingredients = ingredient_names(kg)
        self.blocked = non_drug_terms(kg, ingredients)
        # stems must be one of these to become a pattern / an id
        self.known: Set[str] = {n for n in ingredients if is_precise_name(n, self.blocked)}
        self.dropped: Dict[str, Set[str]] = defaultdict(set)  # reason -> names
        self.candidates: Dict[str, Counter] = defaultdict(Counter)
        self.brand_links: Set[Tuple[str, str]] = set()
        self.conflicts: Dict[str, Set[str]] = {}

    def accept(self, name: str, brand: bool = False) -> bool:
        reason = reject_reason(name, self.blocked)
        if reason is None and brand and len(name) < MIN_BRAND_LEN:
            reason = "short_brand"
        if reason is not None:
            self.dropped[reason].add(name)
            return False
        return True

    def _usable(self, name: str) -> bool:
        return is_precise_name(name, self.blocked)

    def generic_id(self, name: str) -> str:
        """Active-ingredient id of a cleaned generic product name:
        盐酸二甲双胍片 -> 二甲双胍; 六味地黄丸 (unknown stem) -> 六味地黄丸."""
        stem, form = split_form(name)
        if form is not None:
            if (stem in self.known or strip_salt(stem) != stem) and self._usable(stem):
                name = stem
            else:
                return name  # a product whose stem is no known drug: its own id
        base = strip_salt(name)
        # a salt's base is a chemical name: CMeKG's noisy symptom lists (肝素
        # under 骨质疏松症) do not block it, the word lists do
        if base != name and is_precise_name(base):
            name = base
        return name

    def add(self, pattern: str, generic: str, rank: int) -> None:
        self.candidates[pattern][(rank, generic)] += 1
        ascii_dash = pattern.replace("—", "-").replace("－", "-")
        if ascii_dash != pattern:  # CMeKG writes L—谷氨酰胺, text mostly L-谷氨酰胺
            self.candidates[ascii_dash][(RANK_VARIANT, generic)] += 1

    def add_pair(self, raw_name: str, raw_generic: str) -> None:
        """Add one (name, generic) pair from ``drug_names`` plus its variants."""
        name, generic = clean_name(raw_name), clean_name(raw_generic)
        if name != generic:  # a brand
            if not self._usable(generic):
                return  # brand of a junk generic: nothing to link it to
            if self.accept(name, brand=True):
                gid = self.generic_id(generic)
                self.add(name, gid, RANK_BRAND)
                self.brand_links.add((name, gid))
            return
        if not self.accept(name):
            return
        gid = self.generic_id(name)
        self.add(name, gid, RANK_GENERIC)
        if gid == name:
            return  # bare names and unknown stems get no invented variants
        self.add(gid, gid, RANK_GENERIC)
        stem, form = split_form(name)
        variants = dosage_variants(name) | route_variants(gid, form)
        if strip_salt(stem) != stem:
            variants.add(stem)  # 盐酸二甲双胍
        for variant in sorted(variants - {name, gid}):
            if self.accept(variant):
                self.add(variant, gid, RANK_VARIANT)

    def resolve(self) -> List[dict]:
        """One pattern per string, sorted by pattern."""
        patterns = []
        for pattern in sorted(self.candidates):
            options = self.candidates[pattern]
            ids = {gid for _, gid in options}
            if len(ids) > 1:
                self.conflicts[pattern] = ids
            if pattern in ids:
                gid = pattern  # a generic maps to itself
            else:
                (_, gid), _ = min(options.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1]))
            patterns.append({"label": LABEL, "pattern": pattern, "id": gid})
        return patterns

    def summary(self, patterns: List[dict]) -> dict:
        return {
            "patterns": len(patterns),
            "generics": len({p["id"] for p in patterns}),
            "brand_links": sum(
                1 for p in patterns if (p["pattern"], p["id"]) in self.brand_links
            ),
            "conflicts": len(self.conflicts),
            "dropped": {reason: len(names) for reason, names in sorted(self.dropped.items())},
        }


def build_patterns(kg: dict, stats: Optional[dict] = None) -> List[dict]:
    """entity_ruler patterns for the drugs in ``kg``, sorted by pattern:
    ``[{"label": "DRU", "pattern": name, "id": generic}, ...]``.

    When ``stats`` is a dict it is filled with the counts of
    ``PatternBuilder.summary`` (patterns, generics, brand_links, conflicts,
    dropped by reason).
    """
    builder = PatternBuilder(kg)
    for name, generic in drug_names(kg):
        builder.add_pair(name, generic)
    patterns = builder.resolve()
    if stats is not None:
        stats.update(builder.summary(patterns))
    return patterns
