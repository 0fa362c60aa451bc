"""Anthropic Messages API (``POST /v1/messages``)."""

from __future__ import annotations

from typing import Any

import httpx

from strategist.providers.base import (
    LLM_BAD_RESPONSE,
    LLM_NOT_CONFIGURED,
    ChatRequest,
    ChatResponse,
    ProviderError,
    post_json,
)

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicMessagesProvider:
    """``base_url`` is the host (``https://api.anthropic.com``) or ends in ``/v1``."""

    name = "anthropic"
    remote = True

    def __init__(self, *, base_url: str, model: str, api_key: str | None) -> None:
        if not model:
            raise ProviderError("STRATEGIST_LLM_MODEL is required for the anthropic provider",
                                code=LLM_NOT_CONFIGURED)
        base = (base_url or "https://api.anthropic.com").rstrip("/")
        self.url = base + ("/messages" if base.endswith("/v1") else "/v1/messages")
        self.model = model
        self._api_key = api_key
        self._client = httpx.Client(follow_redirects=False)

    def complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse:
        headers = {"content-type": "application/json", "anthropic-version": ANTHROPIC_VERSION}
        if self._api_key:
            headers["x-api-key"] = self._api_key
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "system": request.system,
            "messages": [{"role": "user", "content": request.user}],
        }
        data = post_json(self._client, self.url, body=body, headers=headers, timeout=timeout,
                         provider=self.name)
        blocks = data.get("content")
        texts = [b.get("text") for b in blocks if isinstance(b, dict)
                 and b.get("type") == "text" and isinstance(b.get("text"), str)] \
            if isinstance(blocks, list) else []
        if not texts:
            raise ProviderError("anthropic: no text block in the answer", code=LLM_BAD_RESPONSE)
        if data.get("stop_reason") == "max_tokens":
            raise ProviderError("anthropic: the answer was cut at max_tokens",
                                code=LLM_BAD_RESPONSE)
        raw_usage = data.get("usage")
        usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
        return ChatResponse(text="".join(str(t) for t in texts),
                            model=str(data.get("model") or self.model),
                            prompt_tokens=int(usage.get("input_tokens") or 0),
                            completion_tokens=int(usage.get("output_tokens") or 0))
