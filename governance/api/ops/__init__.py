"""Importing this package registers every governance operation (see ``registry``)."""

from __future__ import annotations

from governance.api.ops import agent, config, decisions, state
from governance.api.registry import OPERATIONS

__all__ = ["OPERATIONS", "agent", "config", "decisions", "state"]
