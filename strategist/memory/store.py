"""Vector stores behind one interface: PostgreSQL here, MongoDB Atlas Vector Search in
production.

``PostgresMemoryStore`` keeps float32 vectors in a ``bytea`` column (no extension needed)
and searches in two regimes:

* up to ``STRATEGIST_MEMORY_IVF_MIN_ITEMS`` items (default 20 000) an exact scan: every
  vector of the embedder is read once into a process-wide numpy matrix (refreshed
  incrementally by id) and scored with one matrix-vector product (1e5 x 384 float32 =
  150 MB, ~10 ms per query on this machine);
* beyond it an IVF-flat index in plain SQL: ``memory_reindex`` trains k-means centroids
  (``sqrt(n)`` lists) and stores each item's nearest list in the indexed ``ivf_list`` column;
  a query scores the centroids, reads only the ``nprobe`` nearest lists
  (``WHERE embedder=%s AND ivf_list IN (...)``, index ``memory_ivf_list``) and re-ranks
  them exactly. At 1e5 items and 316 lists with nprobe 8 that is ~2 500 rows per query.

With the pgvector extension available the same interface maps onto a ``vector(384)``
column with an HNSW index (``vector_cosine_ops``); see docs/strategist.md.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import transaction

from strategist.models import MemoryCentroid, MemoryItem


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result."""

    item_id: int
    score: float
    kind: str
    title: str
    text: str
    metadata: dict[str, Any]
    created_at: str


class MemoryStore(Protocol):
    """What the memory services need from a vector store."""

    def add(self, *, embedder: str, vector: npt.NDArray[np.float32], kind: str, title: str,
            text: str, metadata: Mapping[str, Any], source_ref: str = "") -> int: ...

    def search(self, *, embedder: str, vector: npt.NDArray[np.float32], limit: int,
               kinds: Sequence[str] = ()) -> list[Hit]: ...


def to_bytes(vector: npt.NDArray[np.float32]) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(raw: bytes | memoryview) -> npt.NDArray[np.float32]:
    return np.frombuffer(bytes(raw), dtype="<f4")


class _Matrix:
    """The exact-scan cache of one embedder: ids and a stacked matrix, grown by id."""

    def __init__(self) -> None:
        self.ids = np.zeros(0, dtype=np.int64)
        self.matrix: npt.NDArray[np.float32] | None = None
        self.last_id = 0


class PostgresMemoryStore:
    """Float32 vectors in PostgreSQL; exact scan, then IVF-flat past the threshold."""

    def __init__(self) -> None:
        self._cache: dict[str, _Matrix] = {}
        self._lock = threading.Lock()

    def add(self, *, embedder: str, vector: npt.NDArray[np.float32], kind: str, title: str,
            text: str, metadata: Mapping[str, Any], source_ref: str = "") -> int:
        ivf = self._nearest_lists(embedder, vector, 1)
        item = MemoryItem.objects.create(
            kind=kind, title=title[:200], text=text, metadata=dict(metadata),
            embedder=embedder, dim=int(vector.shape[0]), vector=to_bytes(vector),
            ivf_list=ivf[0] if ivf else -1, source_ref=source_ref[:120])
        return int(item.pk)

    def _centroids(self, embedder: str) -> tuple[list[int], npt.NDArray[np.float32] | None]:
        rows = list(MemoryCentroid.objects.filter(embedder=embedder).order_by("list_no")
                    .values_list("list_no", "vector"))
        if not rows:
            return [], None
        return [r[0] for r in rows], np.stack([from_bytes(r[1]) for r in rows])

    def _nearest_lists(self, embedder: str, vector: npt.NDArray[np.float32], n: int
                       ) -> list[int]:
        lists, centroids = self._centroids(embedder)
        if centroids is None:
            return []
        scores = centroids @ vector
        order = np.argsort(-scores)[:n]
        return [lists[int(i)] for i in order]

    def _exact_matrix(self, embedder: str) -> _Matrix:
        with self._lock:
            cache = self._cache.setdefault(embedder, _Matrix())
            fresh = list(MemoryItem.objects.filter(embedder=embedder, pk__gt=cache.last_id)
                         .order_by("pk").values_list("pk", "vector"))
            if fresh:
                ids = np.array([r[0] for r in fresh], dtype=np.int64)
                block = np.stack([from_bytes(r[1]) for r in fresh])
                cache.ids = np.concatenate([cache.ids, ids])
                cache.matrix = block if cache.matrix is None else np.vstack([cache.matrix,
                                                                             block])
                cache.last_id = int(ids[-1])
            return cache

    def search(self, *, embedder: str, vector: npt.NDArray[np.float32], limit: int,
               kinds: Sequence[str] = (), nprobe: int | None = None) -> list[Hit]:
        hits, stale = self._search(embedder=embedder, vector=vector, limit=limit, kinds=kinds,
                                   nprobe=nprobe)
        if stale:
            # Items were deleted under the exact-scan cache: rebuild it once.
            with self._lock:
                self._cache.pop(embedder, None)
            hits, _ = self._search(embedder=embedder, vector=vector, limit=limit, kinds=kinds,
                                   nprobe=nprobe)
        return hits

    def _search(self, *, embedder: str, vector: npt.NDArray[np.float32], limit: int,
                kinds: Sequence[str], nprobe: int | None) -> tuple[list[Hit], bool]:
        probe = self._nearest_lists(embedder, vector, nprobe or
                                    settings.STRATEGIST_MEMORY_IVF_NPROBE)
        if probe:
            rows = list(MemoryItem.objects.filter(embedder=embedder, ivf_list__in=probe)
                        .values_list("pk", "vector"))
            # Items added since the last reindex (-1) are always scanned too.
            rows += list(MemoryItem.objects.filter(embedder=embedder, ivf_list=-1)
                         .values_list("pk", "vector"))
            if not rows:
                return [], False
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            matrix = np.stack([from_bytes(r[1]) for r in rows])
        else:
            cache = self._exact_matrix(embedder)
            if cache.matrix is None:
                return [], False
            ids, matrix = cache.ids, cache.matrix
        scores = matrix @ vector
        want = limit * 4 if kinds else limit
        top = np.argsort(-scores)[:want]
        chosen = [(int(ids[i]), float(scores[i])) for i in top]
        items = MemoryItem.objects.in_bulk([i for i, _ in chosen])
        hits = []
        stale = False
        for item_id, score in chosen:
            item = items.get(item_id)
            if item is None:
                stale = True
                continue
            if kinds and item.kind not in kinds:
                continue
            hits.append(Hit(item_id=item_id, score=round(score, 6), kind=item.kind,
                            title=item.title, text=item.text, metadata=item.metadata,
                            created_at=item.created_at.isoformat()))
            if len(hits) >= limit:
                break
        return hits, stale

    def reindex(self, *, embedder: str, lists: int | None = None, iterations: int = 12,
                seed: int = 7) -> int:
        """Train k-means centroids and assign every item its list; returns the list count
        (0 and no index below ``STRATEGIST_MEMORY_IVF_MIN_ITEMS``)."""
        rows = list(MemoryItem.objects.filter(embedder=embedder).order_by("pk")
                    .values_list("pk", "vector"))
        if lists is None:
            if len(rows) < settings.STRATEGIST_MEMORY_IVF_MIN_ITEMS:
                with transaction.atomic():
                    MemoryCentroid.objects.filter(embedder=embedder).delete()
                    MemoryItem.objects.filter(embedder=embedder).update(ivf_list=-1)
                return 0
            lists = max(2, int(np.sqrt(len(rows))))
        lists = min(lists, len(rows))
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        matrix = np.stack([from_bytes(r[1]) for r in rows])
        centroids = spherical_kmeans(matrix, lists, iterations=iterations, seed=seed)
        assign = np.argmax(matrix @ centroids.T, axis=1)
        with transaction.atomic():
            MemoryCentroid.objects.filter(embedder=embedder).delete()
            MemoryCentroid.objects.bulk_create([
                MemoryCentroid(embedder=embedder, list_no=k, vector=to_bytes(centroids[k]),
                               size=int((assign == k).sum())) for k in range(lists)])
            for k in range(lists):
                members = ids[assign == k].tolist()
                if members:
                    MemoryItem.objects.filter(pk__in=members).update(ivf_list=k)
        return lists


def spherical_kmeans(matrix: npt.NDArray[np.float32], k: int, *, iterations: int = 12,
                     seed: int = 7) -> npt.NDArray[np.float32]:
    """k-means on the unit sphere (cosine), k-means++-style seeding; deterministic."""
    rng = np.random.default_rng(seed)
    n = matrix.shape[0]
    first = int(rng.integers(n))
    centroids = [matrix[first]]
    best = matrix @ matrix[first]
    for _ in range(1, k):
        distance = np.clip(1.0 - best, 0.0, None) + 1e-9
        pick = int(rng.choice(n, p=distance / distance.sum()))
        centroids.append(matrix[pick])
        best = np.maximum(best, matrix @ matrix[pick])
    c = np.stack(centroids).astype(np.float32)
    for _ in range(iterations):
        assign = np.argmax(matrix @ c.T, axis=1)
        for j in range(k):
            members = matrix[assign == j]
            if len(members):
                mean = members.sum(axis=0)
                norm = np.linalg.norm(mean)
                if norm > 0:
                    c[j] = mean / norm
    return c


def atlas_vector_search_pipeline(*, vector: Sequence[float], limit: int,
                                 embedder: str, kinds: Sequence[str] = (),
                                 index: str = "memory_vector_index",
                                 num_candidates: int | None = None) -> list[dict[str, Any]]:
    """The MongoDB Atlas ``$vectorSearch`` aggregation for the same query (production)."""
    flt: dict[str, Any] = {"embedder": embedder}
    if kinds:
        flt["kind"] = {"$in": list(kinds)}
    return [
        {"$vectorSearch": {"index": index, "path": "vector", "queryVector": list(vector),
                           "numCandidates": num_candidates or max(100, limit * 20),
                           "limit": limit, "filter": flt}},
        {"$project": {"_id": 1, "kind": 1, "title": 1, "text": 1, "metadata": 1,
                      "created_at": 1, "score": {"$meta": "vectorSearchScore"}}},
    ]


class AtlasMemoryStore:
    """The production anchor: a pymongo collection with an Atlas Vector Search index
    (``vector`` field, cosine). Not used here (no MongoDB on these machines)."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection

    def add(self, *, embedder: str, vector: npt.NDArray[np.float32], kind: str, title: str,
            text: str, metadata: Mapping[str, Any], source_ref: str = "") -> int:
        doc = {"embedder": embedder, "vector": [float(x) for x in vector], "kind": kind,
               "title": title, "text": text, "metadata": dict(metadata),
               "source_ref": source_ref}
        result = self.collection.insert_one(doc)
        return int(hash(result.inserted_id) & 0x7FFFFFFF)

    def search(self, *, embedder: str, vector: npt.NDArray[np.float32], limit: int,
               kinds: Sequence[str] = ()) -> list[Hit]:
        pipeline = atlas_vector_search_pipeline(vector=[float(x) for x in vector],
                                                limit=limit, embedder=embedder, kinds=kinds)
        return [Hit(item_id=int(hash(d["_id"]) & 0x7FFFFFFF), score=float(d["score"]),
                    kind=d["kind"], title=d["title"], text=d["text"],
                    metadata=d.get("metadata", {}), created_at=str(d.get("created_at", "")))
                for d in self.collection.aggregate(pipeline)]


_STORE: MemoryStore | None = None


def store_get() -> MemoryStore:
    global _STORE
    if _STORE is None:
        _STORE = PostgresMemoryStore()
    return _STORE
