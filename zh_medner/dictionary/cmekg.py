"""CMeKG v1 (PyPI `pycmekg`): loaded safely, and which of its subjects are drugs.

The graph ships as `pyCMeKG/model/cmekg.pkl` inside the sdist: a pickle of builtin
objects only, `{subject: {predicate: [object, ...]}}`. It is read with an unpickler
that refuses every class, so a tampered file cannot run code.
"""

from __future__ import annotations

import io
import pickle
import re
import tarfile
from collections import Counter
from collections.abc import Iterable, Iterator

from .morphology import looks_generic
from .wordlists import clean_name


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
        members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(member_suffix)]
        if len(members) != 1:
            raise ValueError(
                f"expected one member ending in {member_suffix!r} in {sdist_path}, "
                f"found {[m.name for m in members]}"
            )
        fileobj = tar.extractfile(members[0])
        if fileobj is None:  # pragma: no cover - isfile() was checked
            raise ValueError(f"cannot read {members[0].name} from {sdist_path}")
        return fileobj.read()


def load_cmekg(sdist_path) -> dict[str, dict[str, list[str]]]:
    """Load the CMeKG graph ``{subject: {predicate: [objects]}}`` from the
    pycmekg sdist (.tar.gz), without extracting it and without unpickling
    any class."""
    kg = safe_loads(read_pickle_from_sdist(sdist_path))
    if not isinstance(kg, dict):
        raise ValueError(f"unexpected CMeKG pickle root type {type(kg).__name__}")
    return kg


DRUG_PREDICATES = frozenset(
    {
        "通用名",
        "商品名",
        "成份",
        "药品类型",
        "规格",
        "OTC类型",
        "药品监管分级",
        "用法用量",
        "贮藏",
        "有效期",
    }
)
# classical TCM formulae (温胆汤, 五皮散): 出处 plus composition/function
FORMULA_PREDICATES = frozenset({"组成", "功用", "主治"})
# plants / materia medica (界 门 纲 ... 入药部位 性味)
HERB_PREDICATES = frozenset(
    {"入药部位", "性味", "界", "门", "纲", "目", "科", "属", "种", "采收时间"}
)
DISEASE_PREDICATES = frozenset(
    {
        "常见症状",
        "就诊科室",
        "ICD10",
        "常见病因",
        "常见发病部位",
        "多发群体",
        "传染性",
        "并发症",
        "检查",
    }
)
# Objects of these predicates are symptom / body-site / test / department
# terms.  适应症, 不良反应 and 相关疾病 are left out: they list drugs too.
NON_DRUG_OBJECT_PREDICATES = (
    "常见症状",
    "相关症状",
    "临床症状及体征",
    "常见发病部位",
    "发病部位",
    "检查",
    "就诊科室",
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


_HYDRATE = re.compile(r"(?:倍半|半|一|二|三|四|五|六|七|八)?水合物$|^是")


def ingredient_names(kg: dict) -> Counter:
    """Cleaned 成份 objects, counted over drug subjects (one per subject);
    hydrates count as the substance (头孢克肟三水合物 -> 头孢克肟)."""
    counts: Counter = Counter()
    for props in kg.values():
        if is_drug(props):
            counts.update({_HYDRATE.sub("", clean_name(o)) for o in props.get("成份", ())} - {""})
    return counts


def non_drug_terms(kg: dict, ingredients: Iterable[str] = ()) -> set[str]:
    """Disease subjects plus symptom/body-site/test/department objects.

    CMeKG symptom lists are noisy (甲硝唑 is a 常见症状 of 药物相关性胃病), so
    objects that are also drug ingredients are not treated as non-drug terms.
    """
    ingredients = set(ingredients)
    terms: set[str] = set()
    for subject, props in kg.items():
        if is_disease(props):
            terms.add(clean_name(subject))
        for pred in NON_DRUG_OBJECT_PREDICATES:
            terms.update(
                clean_name(o) for o in props.get(pred, ()) if clean_name(o) not in ingredients
            )
    terms.discard("")
    return terms


def _is_and_artifact(subject: str, obj: str) -> bool:
    # CMeKG cut a leading 和 off the 通用名/商品名 of 和胃片, 和血片 ... (和 = "and")
    return subject.startswith("和") and obj == subject[1:]


def drug_names(kg: dict) -> Iterator[tuple[str, str]]:
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
        links: list[tuple[str, str]] = []
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
