"""A linear probe: how much entity knowledge an encoder's frozen features carry.

Each character gets the encoder's last hidden state (frozen); one linear layer learns BIO tags
for the nine CMeEE types on a training sample, and flat entity F1 is measured on a dev sample.
The same probe on a random-initialised twin of the encoder says what pretraining added.
"""

from collections.abc import Sequence

import numpy
from spacy.tokens import Doc

from .ner import flat_triples, micro_scores


def bio_tags(doc: Doc, labels: Sequence[str]) -> numpy.ndarray:
    """Per character: 0 for O, 1 + 2k for B-label_k, 2 + 2k for I-label_k (flat entities)."""
    tags = numpy.zeros(len(doc.text), dtype=numpy.int64)
    for ent in doc.ents:
        k = labels.index(ent.label_)
        tags[ent.start_char] = 1 + 2 * k
        tags[ent.start_char + 1 : ent.end_char] = 2 + 2 * k
    return tags


def decode(text: str, tags: Sequence[int], labels: Sequence[str]) -> set:
    """BIO tags -> (start, end, label) spans; an I- that continues nothing starts a span."""
    spans, start, current = set(), None, None
    for i, tag in enumerate(list(tags) + [0]):
        kind, k = (0, None) if tag == 0 else ((tag - 1) % 2, (tag - 1) // 2)
        if current is not None and (tag == 0 or kind == 0 or k != current):
            spans.add((start, i, labels[current]))
            current = None
        if tag != 0 and current is None:
            start, current = i, k
    return spans


def char_features(
    encoder_dir: str, texts: Sequence[str], batch_size: int = 32, max_chars: int = 510
):
    """[n_chars, width] per text: the hidden state of the token that holds each character."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
    model = AutoModel.from_pretrained(encoder_dir).eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            batch = [t[:max_chars] for t in texts[i : i + batch_size]]
            enc = tokenizer(batch, return_offsets_mapping=True, padding=True, return_tensors="pt")
            offsets = enc.pop("offset_mapping")
            hidden = model(**enc).last_hidden_state
            for j, text in enumerate(batch):
                index = numpy.zeros(len(text), dtype=numpy.int64)  # chars with no token: [CLS]
                for t, (a, b) in enumerate(offsets[j].tolist()):
                    if b > a:
                        index[a:b] = t
                out.append(hidden[j, torch.from_numpy(index)].numpy())
    return out


def probe(
    encoder_dir: str,
    train_docs: Sequence[Doc],
    dev_docs: Sequence[Doc],
    labels: Sequence[str],
    epochs: int = 8,
    seed: int = 0,
) -> dict:
    """Train the linear BIO layer on frozen features of `train_docs`; flat scores on `dev_docs`."""
    import torch

    torch.manual_seed(seed)
    train_x = numpy.concatenate(char_features(encoder_dir, [d.text[:510] for d in train_docs]))
    train_y = numpy.concatenate([bio_tags(d, labels)[:510] for d in train_docs])
    x, y = torch.from_numpy(train_x), torch.from_numpy(train_y)
    layer = torch.nn.Linear(x.shape[1], 1 + 2 * len(labels))
    optimizer = torch.optim.Adam(layer.parameters(), lr=1e-2)
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(1024):
            loss = torch.nn.functional.cross_entropy(layer(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    texts = [d.text[:510] for d in dev_docs]
    pairs = []
    with torch.inference_mode():
        for text, doc, feats in zip(texts, dev_docs, char_features(encoder_dir, texts)):
            tags = layer(torch.from_numpy(feats)).argmax(-1).tolist()
            gold = {t for t in flat_triples(doc) if t[1] <= len(text)}
            pairs.append((decode(text, tags, labels), gold))
    scores = micro_scores(pairs)
    scores["train_chars"] = int(len(train_y))
    return scores
