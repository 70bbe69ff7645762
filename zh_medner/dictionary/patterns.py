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

"""

from __future__ import annotations

from collections import Counter, defaultdict

from .cmekg import drug_names, ingredient_names, non_drug_terms
from .morphology import dosage_variants, route_variants, split_form, strip_salt
from .wordlists import MIN_BRAND_LEN, clean_name, is_precise_name, reject_reason

LABEL = "DRU"

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
        self.known: set[str] = {n for n in ingredients if is_precise_name(n, self.blocked)}
        self.dropped: dict[str, set[str]] = defaultdict(set)  # reason -> names
        self.candidates: dict[str, Counter] = defaultdict(Counter)
        self.brand_links: set[tuple[str, str]] = set()
        self.conflicts: dict[str, set[str]] = {}

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

    def resolve(self) -> list[dict]:
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

    def summary(self, patterns: list[dict]) -> dict:
        return {
            "patterns": len(patterns),
            "generics": len({p["id"] for p in patterns}),
            "brand_links": sum(1 for p in patterns if (p["pattern"], p["id"]) in self.brand_links),
            "conflicts": len(self.conflicts),
            "dropped": {reason: len(names) for reason, names in sorted(self.dropped.items())},
        }


def build_patterns(kg: dict, stats: dict | None = None) -> list[dict]:
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
