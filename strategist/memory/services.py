"""Memory writes and reads: embed with the configured embedder, store, search."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from strategist.memory.embedders import embedder_get
from strategist.memory.store import Hit, PostgresMemoryStore, store_get


def memory_add(*, kind: str, title: str, text: str, metadata: Mapping[str, Any] | None = None,
               source_ref: str = "") -> int:
    """Embed ``title`` + ``text`` and store it; returns the item id."""
    embedder = embedder_get()
    vector = embedder.embed([f"{title}\n{text}"])[0]
    return store_get().add(embedder=embedder.name, vector=vector, kind=kind, title=title,
                           text=text, metadata=metadata or {}, source_ref=source_ref)


def memory_search(*, query: str, limit: int = 5, kinds: Sequence[str] = ()) -> list[Hit]:
    """The stored items closest in meaning to ``query`` (cosine similarity, best first)."""
    embedder = embedder_get()
    vector = embedder.embed([query])[0]
    return store_get().search(embedder=embedder.name, vector=vector, limit=limit, kinds=kinds)


def memory_reindex(*, lists: int | None = None) -> int:
    """Retrain the IVF lists of the configured embedder (Celery beat, hourly)."""
    store = store_get()
    if not isinstance(store, PostgresMemoryStore):
        return 0  # Atlas maintains its own index
    return store.reindex(embedder=embedder_get().name, lists=lists)


def hit_as_dict(hit: Hit) -> dict[str, Any]:
    return {"id": hit.item_id, "score": hit.score, "kind": hit.kind, "title": hit.title,
            "text": hit.text[:2000], "metadata": hit.metadata, "created_at": hit.created_at}
