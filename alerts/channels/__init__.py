"""The explicit channel registry: built-ins register in ``AlertsConfig.ready``; others may too."""

from __future__ import annotations

from alerts.channels.base import AlertMessage, Channel, ChannelError, ChannelResult
from governance.errors import NotFound

_REGISTRY: dict[str, Channel] = {}


def register_channel(channel: Channel, *, replace: bool = False) -> None:
    if channel.name in _REGISTRY and not replace:
        if type(_REGISTRY[channel.name]) is type(channel):
            return  # ready() may run more than once (tests, reloads)
        raise ValueError(f"alert channel {channel.name!r} is already registered")
    _REGISTRY[channel.name] = channel


def unregister_channel(name: str) -> None:
    _REGISTRY.pop(name, None)


def channel_get(name: str) -> Channel:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise NotFound(f"no alert channel named {name!r}", code="ALERT_CHANNEL_UNKNOWN") from None


def channels_all() -> list[Channel]:
    return list(_REGISTRY.values())


def channel_names() -> list[str]:
    return list(_REGISTRY)


__all__ = [
    "AlertMessage",
    "Channel",
    "ChannelError",
    "ChannelResult",
    "channel_get",
    "channel_names",
    "channels_all",
    "register_channel",
    "unregister_channel",
]
