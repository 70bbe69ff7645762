"""Cleaning drug names and the word lists that keep everyday words out of the dictionary."""

from __future__ import annotations

import re
from collections.abc import Iterable

MIN_LEN = 2
MAX_LEN = 25
MIN_BRAND_LEN = 3  # two-character brands (可定, 天可, 平坦) hit ordinary text

_CJK = re.compile(r"[\u3400-\u9fff]")
_BRACKETS = re.compile(r"（[^（）]*）|\([^()]*\)|【[^【】]*】|\[[^\[\]]*[\u3400-\u9fff][^\[\]]*\]")
_LEAD_LABEL = re.compile(r"^(?:通用名称|通用名|商品名称|商品名|药品名称|主要成份|成份)[:：]?")
_UNIT = r"(?:mg|g|kg|ml|mL|l|L|μg|ug|mcg|iu|IU|u|U|万单位|万IU|单位|毫克|克|毫升|微克|%|％)"
_LEAD_SPEC = re.compile(r"^\d+(?:\.\d+)?" + _UNIT)
_TRAIL_SPEC = re.compile(r"(?:\d+(?:\.\d+)?" + _UNIT + r"|\d+(?:粒|片|丸|袋|支|瓶|盒|贴))$")
_SPEC_ANYWHERE = re.compile(r"\d+(?:\.\d+)?(?:mg|g|ml|mL|μg|ug|毫克|克|毫升|微克|万单位)")
_SEPARATORS = re.compile(r"[、，,；;：:/\\|。？?！!\"“”‘’《》<>*＊+＋~～…（）()\[\]【】]")
_CODE = re.compile(r"^[A-Za-z]*\d+[A-Za-z]*$|[A-Z]\d{6,}|国药准字")
# packaging, manufacturer and note text
_JUNK_WORDS = (
    "原名",
    "别名",
    "商标",
    "药业",
    "制药",
    "公司",
    "集团",
    "有限",
    "药厂",
    "本品",
    "复方制剂",
    "包装",
    "英文",
    "名称",
    "规格",
    "每片",
    "每粒",
    "每袋",
    "每支",
    "含量",
    "供诊断用",
    "辅料",
)

# Everyday or ambiguous words among CMeKG drug/brand names and their stems,
# picked by reading the candidates: those that are common words in general
# text (jieba's word list was a reading aid, not a dependency), company or
# person names used as brands, foods and spices, and substances whose matches
# in CMeEE train text were mostly not drugs (body substances, lab items).
EVERYDAY_WORDS = frozenset(
    """
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
""".split()
)
# Drug names that CMeEE text mostly uses for something else: matched in CMeEE
# train, fewer than 40% of their >= 10 matches touched a gold DRU span
# (血葡萄糖, 胰岛素抵抗, 维生素D缺乏, 维生素K依赖因子, 氨基酸代谢; 维生素B is
# mostly the head of 维生素B<sub>6</sub>).  Longer names (葡萄糖注射液,
# 胰岛素注射液, 维生素K1) stay.
AMBIGUOUS_SUBSTANCES = frozenset(
    "葡萄糖 口服葡萄糖 胰岛素 氨基酸 维生素B 维生素D 维生素K".split()  # 口服葡萄糖耐量试验
)
# General words that are not drug names (classes, forms, TCM function phrases)
GENERAL_WORDS = frozenset(
    """
中药 西药 药物 药品 制剂 针剂 抗生素 激素 疫苗 营养液 平衡液
止咳 止痛 止血 消炎 镇痛 退热 降压 降糖 补血 活血 清热 解毒 通便 安眠
清热解毒 活血化瘀 止咳化痰 补中益气 血片 胃片 复方 口服 外用 小儿
""".split()
)


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


def reject_reason(name: str, non_drug_terms: Iterable[str] = ()) -> str | None:
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
