"""Institutional memory: thought traces, post-mortems and decisions, searchable by meaning."""

from __future__ import annotations

from strategist.memory.services import memory_add, memory_reindex, memory_search

__all__ = ["memory_add", "memory_reindex", "memory_search"]
