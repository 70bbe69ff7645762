"""Drug-name morphology: dosage forms, routes and salts (阿莫西林胶囊 -> 阿莫西林 + 胶囊)."""

from __future__ import annotations

from collections.abc import Iterable


def _longest_first(words: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(words), key=lambda s: (-len(s), s)))


ORAL_SUFFIXES = frozenset(
    {
        "片",
        "缓释片",
        "控释片",
        "肠溶片",
        "分散片",
        "咀嚼片",
        "泡腾片",
        "含片",
        "口腔崩解片",
        "口崩片",
        "舌下片",
        "薄膜衣片",
        "糖衣片",
        "胶囊",
        "缓释胶囊",
        "控释胶囊",
        "肠溶胶囊",
        "软胶囊",
        "硬胶囊",
        "胶丸",
        "滴丸",
        "颗粒",
        "颗粒剂",
        "冲剂",
        "干混悬剂",
        "混悬液",
        "混悬剂",
        "口服液",
        "口服溶液",
        "糖浆",
        "合剂",
        "丸",
        "散",
        "缓释微丸",
        "微丸",
        "散剂",
        "丸剂",
        "片剂",
        "胶囊剂",
        "口内崩解片",
    }
)
INJECTABLE_SUFFIXES = frozenset(
    {"注射液", "注射剂", "粉针", "粉针剂", "输液", "注射用乳剂", "注射用液"}
)
OTHER_SUFFIXES = frozenset(
    {
        "溶液",
        "滴剂",
        "滴眼液",
        "眼膏",
        "眼用凝胶",
        "滴耳液",
        "滴鼻液",
        "鼻喷雾剂",
        "喷雾剂",
        "气雾剂",
        "吸入剂",
        "粉雾剂",
        "吸入粉雾剂",
        "软膏",
        "乳膏",
        "凝胶",
        "贴剂",
        "贴片",
        "栓",
        "栓剂",
        "搽剂",
        "洗剂",
        "酊",
        "酊剂",
        "乳剂",
        "阴道片",
        "阴道泡腾片",
        "粘贴片",
        "胶浆",
        "雾化液",
        "雾化吸入溶液",
        "吸入溶液",
        "喷剂",
        "鼻喷剂",
    }
)
FORM_SUFFIXES = _longest_first(ORAL_SUFFIXES | INJECTABLE_SUFFIXES | OTHER_SUFFIXES)
INJECTABLE_PREFIXES = frozenset({"注射用", "静注", "静脉注射用"})
FORM_PREFIXES = _longest_first(INJECTABLE_PREFIXES | {"吸入用", "外用", "口服"})
# forms invented for a generic, for the route its CMeKG products have
ORAL_VARIANTS = ("片", "胶囊")
INJECTABLE_VARIANTS = ("注射液",)
INJECTABLE_PREFIX = "注射用"

# leading salt words: 盐酸二甲双胍 -> 二甲双胍
SALT_PREFIXES = _longest_first(
    {
        "盐酸",
        "硫酸",
        "马来酸",
        "酒石酸",
        "重酒石酸",
        "枸橼酸",
        "甲磺酸",
        "苯磺酸",
        "富马酸",
        "琥珀酸",
        "磷酸",
        "醋酸",
        "乳酸",
        "硝酸",
        "氢溴酸",
        "门冬氨酸",
        "甲硫酸",
        "丙酸",
        "戊酸",
        "对甲苯磺酸",
        "乙磺酸",
        "苯甲酸",
        "盐酸左旋",
    }
)
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


def split_form(name: str) -> tuple[str, str | None]:
    """Split the dosage form off ``name``: 阿莫西林胶囊 -> (阿莫西林, 胶囊),
    注射用头孢曲松钠 -> (头孢曲松钠, 注射用), 咪康唑阴道胶囊 -> (咪康唑, 阴道胶囊),
    阿昔洛韦葡萄糖注射液 -> (阿昔洛韦, 葡萄糖注射液), 吸入用布地奈德混悬液 ->
    (布地奈德, 吸入用混悬液); (name, None) when there is none."""
    stem, prefix, suffix = name, "", ""
    for p in FORM_PREFIXES:
        if stem.startswith(p) and len(stem) > len(p):
            stem, prefix = stem[len(p) :], p
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
                if (
                    stem.endswith(carrier)
                    and len(rest) >= 3
                    and not rest.endswith(INFUSION_CARRIERS)
                ):
                    stem, suffix = rest, carrier + suffix
                    break
            break
    return stem, (prefix + suffix) or None


def form_route(form: str | None) -> str:
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
            rest = name[len(salt) :].lstrip("—－-")
            # (乳酸菌 is a bacterium, not a lactate)
            if (
                len(rest) >= 3
                and rest[0] not in _ION_CHARS + "菌"
                and not rest.endswith(_INORGANIC_ENDINGS)
            ):
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


def route_variants(base: str, form: str | None) -> set[str]:
    """Common forms of ``base`` for the route of ``form``: oral (or none) ->
    base片, base胶囊; injectable -> base注射液, 注射用base; topical, eye drops
    ... -> nothing."""
    route = form_route(form)
    if route == "injectable":
        return {base + f for f in INJECTABLE_VARIANTS} | {INJECTABLE_PREFIX + base}
    if route == "oral":
        return {base + f for f in ORAL_VARIANTS}
    return set()


def dosage_variants(name: str) -> set[str]:
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
