"""LLM providers behind an explicit registry (``STRATEGIST_LLM_PROVIDER``)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from strategist.providers.anthropic import AnthropicMessagesProvider
from strategist.providers.base import (
    ChatRequest,
    ChatResponse,
    LLMProvider,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from strategist.providers.openai import OpenAIChatProvider
from strategist.providers.rules import RulesProvider

ProviderFactory = Callable[[], LLMProvider]
PROVIDERS: dict[str, ProviderFactory] = {}


def register_provider(name: str, factory: ProviderFactory) -> None:
    PROVIDERS[name] = factory


def _openai() -> LLMProvider:
    return OpenAIChatProvider(base_url=settings.STRATEGIST_LLM_BASE_URL,
                              model=settings.STRATEGIST_LLM_MODEL,
                              api_key=settings.STRATEGIST_LLM_API_KEY)


def _anthropic() -> LLMProvider:
    return AnthropicMessagesProvider(base_url=settings.STRATEGIST_LLM_BASE_URL,
                                     model=settings.STRATEGIST_LLM_MODEL,
                                     api_key=settings.STRATEGIST_LLM_API_KEY)


register_provider("rules", RulesProvider)
register_provider("openai", _openai)
register_provider("anthropic", _anthropic)


def provider_get(name: str | None = None) -> LLMProvider:
    """A provider built from settings (``ProviderError`` LLM_NOT_CONFIGURED when incomplete)."""
    name = name or settings.STRATEGIST_LLM_PROVIDER
    factory = PROVIDERS.get(name)
    if factory is None:
        raise ImproperlyConfigured(f"STRATEGIST_LLM_PROVIDER={name!r} is not one of "
                                   f"{sorted(PROVIDERS)}")
    return factory()


__all__ = [
    "PROVIDERS",
    "ChatRequest",
    "ChatResponse",
    "LLMProvider",
    "ProviderError",
    "ProviderRateLimited",
    "ProviderTimeout",
    "ProviderUnavailable",
    "provider_get",
    "register_provider",
]
