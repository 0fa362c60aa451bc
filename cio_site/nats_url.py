"""``NATS_URL`` for nats-py (no Django import: the exec probes use it too)."""

from __future__ import annotations


def nats_servers(url: str) -> list[str]:
    """One URL, or a cluster's seed URLs comma-separated, as nats-py's server list."""
    return [part.strip() for part in url.split(",") if part.strip()]
