"""Readers of public labelled context corpora into the records `score_context` scores.

Both corpora are research data, read by path from outside the project (../shared/data/context,
see its SOURCE.md); nothing of them is ever written into the project.

- CMDD (online paediatric consultations): one JSON file per dialogue, a per-character BIO
  `label` per utterance and one `type` per mention ("1" present, "2" absent, "3" uncertain).
  A dialogue becomes one record in the project's dialogue format (one utterance a line with a
  speaker prefix, `患者：...`), so the context component sees the previous turn; the gold
  entities are the mentions of the chosen speakers (the patient by default), labelled DIS
  where the corpus's normalised name is a disease, else SYM (`DISEASE`).
- CHIP-CDEE (chart sentences): events with a normalised `core_name` and a `tendency` ("" ,
  "否定" negated, "不确定" uncertain), not spans. Each core_name is found in its text:
  literally, else as the shortest window that holds its characters in order (体重变化 in
  体重无明显变化); those that cannot be placed are reported, not guessed.

`split` divides a corpus by dialogue (CMDD) or by text (CHIP-CDEE) into a development part
and a held-out part with a fixed seed, so that rules are tuned on one and scored on the other.
"""

import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .context import EvalDataError

PARTS = ("dev", "heldout", "all")
SEED = 19
HELD_OUT = 0.2
STATUS_CMDD = {"1": "affirmed", "2": "negated", "3": "uncertain"}
STATUS_CDEE = {"": "affirmed", "否定": "negated", "不确定": "uncertain"}
SPEAKER_SEP = "："
# CMDD names every mention a symptom; an NER of CMeEE's labels tags diseases DIS. A mention
# whose normalised name is a disease by its ending (肺炎, 病毒感染, 消化不良, 普通感冒) gets DIS.
DISEASE = re.compile(r"(炎|感染|病|症|感冒|不良|哮喘|积食|缺钙|贫血|脱水|过敏|急疹|湿疹)$")
MAX_GAP = 4  # characters a fuzzy-aligned core_name may skip (体重[无明显]变化)
# How CMDD labels (its annotators' conventions; zh_context's settings that follow them): a
# condition or worry (要是有肠炎, 怕她感冒) is uncertain; a resolved or reduced symptom (烧退了,
# 不怎么咳嗽) was there, and so was a hedged one or one asked about for its severity (好像有痰,
# 要紧吗): present. scripts/evaluate_context.py scores CMDD with them (`--no-conventions`:
# the defaults), and so does scripts/context_classifier.py.
CONVENTIONS = {
    "cmdd": {
        "components.context.hypothetical_as_uncertain": True,
        "components.context.soft_negation": False,
        "components.context.soft_uncertainty": False,
    }
}


def split(ids: Sequence, part: str, seed: int = SEED, held_out: float = HELD_OUT) -> set:
    """The ids of one part: a seeded shuffle of the sorted ids; the last `held_out` share is
    held out."""
    if part not in PARTS:
        raise EvalDataError(f"part must be one of {list(PARTS)}, got {part!r}")
    order = sorted(ids)
    random.Random(seed).shuffle(order)
    cut = len(order) - round(len(order) * held_out)
    return set(order if part == "all" else order[:cut] if part == "dev" else order[cut:])


# ------------------------------------------------------------------------------------ CMDD


def mention_runs(label: str) -> list[tuple[int, int]]:
    """Character runs of a BIO string: each B I* is a mention."""
    return [m.span() for m in re.finditer(r"BI*", label)]


def _utterance_mentions(utt: dict) -> list[tuple[int, int, str, str]] | None:
    """(start, end, type, label) of each mention, or None where label and types disagree."""
    label, types = utt.get("label", ""), utt.get("type", [])
    if len(label) != len(utt.get("sentence", "")):
        return None
    runs = mention_runs(label)
    if len(runs) != len(types):  # a stray I or two mentions run together: noisy, skipped
        runs = [m.span() for m in re.finditer(r"[BI]+", label)]
        if len(runs) != len(types):
            return None
    names = utt.get("normalized", [])
    if any(t not in STATUS_CMDD for t in types) or len(names) != len(types):
        return None
    labels = ["DIS" if DISEASE.search(str(name)) else "SYM" for name in names]
    return [(a, b, t, label) for (a, b), t, label in zip(runs, types, labels)]


def cmdd_record(dialogue: dict, where: str, speakers: Sequence[str], stats: Counter) -> dict:
    """One dialogue as one record: `speaker：sentence` lines, gold mentions of `speakers`."""
    lines, entities, offset = [], [], 0
    for turn, utt in enumerate(dialogue.get("dialogue-content", [])):
        speaker, sentence = utt.get("speaker", ""), utt.get("sentence", "").replace("\n", " ")
        prefix = f"{speaker}{SPEAKER_SEP}"
        mentions = _utterance_mentions(utt)
        if speaker in speakers and utt.get("type"):
            if mentions is None:
                stats["mentions skipped (label and types disagree)"] += len(utt["type"])
            for a, b, t, label in mentions or []:
                start = offset + len(prefix) + a
                entities.append(
                    {
                        "start": start,
                        "end": offset + len(prefix) + b,
                        "label": label,
                        "status": STATUS_CMDD[t],
                        "turn": turn,
                    }
                )
                stats["mentions"] += 1
        lines.append(prefix + sentence)
        offset += len(prefix) + len(sentence) + 1
    if not lines:
        raise EvalDataError(f"{where}: no 'dialogue-content'; is this a CMDD dialogue file?")
    return {
        "id": str(dialogue.get("example-id", where)),
        "text": "\n".join(lines),
        "case": "cmdd/" + "+".join(speakers),
        "entities": entities,
    }


def utterance_records(record: dict) -> list[dict]:
    """A dialogue record cut into one record per utterance that holds a gold mention, with no
    speaker prefix and no previous turn: the component sees the utterance alone."""
    out, offset = [], 0
    for turn, line in enumerate(record["text"].split("\n")):
        cut = line.index(SPEAKER_SEP) + 1
        ents = [
            {**e, "start": e["start"] - offset - cut, "end": e["end"] - offset - cut}
            for e in record["entities"]
            if e["turn"] == turn
        ]
        if ents:
            out.append(
                {**record, "id": f"{record['id']}/{turn}", "text": line[cut:], "entities": ents}
            )
        offset += len(line) + 1
    return out


def read_cmdd(
    folder: str | Path,
    part: str = "dev",
    speakers: Sequence[str] = ("患者",),
    seed: int = SEED,
    mode: str = "dialogue",
) -> tuple[list[dict[str, Any]], Counter]:
    """Records of one part of CMDD (a folder of dialogue files) and counts of what was read.

    mode "dialogue": one record per dialogue (the component sees every turn); "utterance": one
    record per utterance with a mention (the component sees that utterance alone).
    """
    if mode not in ("dialogue", "utterance"):
        raise EvalDataError(f"CMDD mode must be 'dialogue' or 'utterance', got {mode!r}")
    folder = Path(folder)
    files = sorted(folder.glob("*.json"))
    if not files:
        raise EvalDataError(f"{folder}: no CMDD dialogue files (*.json)")
    keep = split([f.name for f in files], part, seed)
    records, stats = [], Counter()
    for path in files:
        if path.name not in keep:
            continue
        try:
            dialogue = json.loads(path.read_text(encoding="utf8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise EvalDataError(f"{path}: not a JSON dialogue ({err})") from None
        record = cmdd_record(dialogue, str(path), speakers, stats)
        stats["dialogues"] += 1
        if record["entities"]:
            records += [record] if mode == "dialogue" else utterance_records(record)
    return records, stats


# ------------------------------------------------------------------------------- CHIP-CDEE


# core_names the chart writes otherwise (the corpus normalises 腹痛 to 疼痛 + anatomy 腹)
ALIASES = {
    "疼痛": ["痛", "疼"],
    "咳痰": ["咯痰", "痰"],
    "癌": ["ca", "Ca", "CA"],
    "体重改变": ["体重"],
    "体重减轻": ["体重下降", "消瘦"],
    "寒颤": ["寒战"],
    "出血": ["流血", "血"],
    "发热": ["热", "发烧"],
    "黄染": ["黄"],
    "黑朦": ["黑蒙", "黒朦"],
    "黒朦": ["黑蒙", "黑朦"],
    "大便": ["便"],
    "小便": ["尿", "便"],
    "大小便": ["二便"],
    "返酸": ["反酸"],
    "睡眠质量": ["睡眠"],
}


def _literal(text: str, name: str, taken: list[bool]) -> tuple[int, int] | None:
    start = text.find(name)
    while start >= 0:
        if not any(taken[start : start + len(name)]):
            return start, start + len(name)
        start = text.find(name, start + 1)
    return None


def _fuzzy(text: str, name: str, taken: list[bool]) -> tuple[int, int] | None:
    """The shortest window of free characters that holds `name`'s characters in order."""
    best = None
    for start in (i for i, c in enumerate(text) if c == name[0] and not taken[i]):
        end = start + 1
        for c in name[1:]:
            nxt = text.find(c, end, end + MAX_GAP + 1)
            if nxt < 0 or any(taken[end : nxt + 1]):
                break
            end = nxt + 1
        else:
            if best is None or end - start < best[1] - best[0]:
                best = (start, end)
    return best


def align(
    text: str, name: str, taken: list[bool], anatomy: Sequence[str] = ()
) -> tuple[int, int] | None:
    """Where the finding `name` sits in `text` on characters not yet taken: with its anatomy
    (腹 + 痛, literally or with gaps), then literally, as a known alias, then with gaps; None
    if nowhere."""
    names = [name] + ALIASES.get(name, [])
    tries = [(find, a + n) for find in (_literal, _fuzzy) for a in anatomy for n in names if a]
    tries += [(_literal, n) for n in names]
    tries += [(_fuzzy, n) for n in names if len(n) > 1]
    for find, candidate in tries:
        span = find(text, candidate, taken)
        if span is not None:
            return span
    return None


def cdee_record(item: dict, where: str, stats: Counter) -> dict:
    text = item.get("text")
    if not isinstance(text, str) or not isinstance(item.get("event"), list):
        raise EvalDataError(f"{where}: expected 'text' and an 'event' list (CHIP-CDEE format)")
    taken = [False] * len(text)
    entities = []
    for event in item["event"]:
        name, tendency = event.get("core_name", ""), event.get("tendency", "")
        anatomy = [a for a in event.get("anatomy_list") or [] if isinstance(a, str)]
        span = align(text, name, taken, anatomy) if name and tendency in STATUS_CDEE else None
        if span is None:
            stats["events not aligned"] += 1
            continue
        literal = text[span[0] : span[1]] == name
        stats[
            "events aligned as written" if literal else "events aligned by anatomy, alias or gaps"
        ] += 1
        taken[span[0] : span[1]] = [True] * (span[1] - span[0])
        entities.append(
            {"start": span[0], "end": span[1], "label": "SYM", "status": STATUS_CDEE[tendency]}
        )
    entities.sort(key=lambda e: e["start"])
    return {"id": str(item.get("id")), "text": text, "case": "chip-cdee", "entities": entities}


def read_chip_cdee(
    path: str | Path, part: str = "dev", seed: int = SEED
) -> tuple[list[dict[str, Any]], Counter]:
    """Records of one part of a CHIP-CDEE file and counts (aligned, fuzzy, not aligned)."""
    path = Path(path)
    try:
        items = json.loads(path.read_text(encoding="utf8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise EvalDataError(f"{path}: cannot read a CHIP-CDEE JSON list ({err})") from None
    if not isinstance(items, list):
        raise EvalDataError(f"{path}: expected a JSON list of texts")
    keep = split([str(item.get("id", i)) for i, item in enumerate(items)], part, seed)
    records, stats = [], Counter()
    for i, item in enumerate(items):
        if str(item.get("id", i)) not in keep:
            continue
        record = cdee_record(item, f"{path}: text {i + 1} (id {item.get('id')})", stats)
        stats["texts"] += 1
        if record["entities"]:
            records.append(record)
    return records, stats
