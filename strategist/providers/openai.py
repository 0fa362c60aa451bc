"""OpenAI-compatible chat completions (OpenAI, vLLM, Ollama, OpenRouter, LM Studio...)."""

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


class OpenAIChatProvider:
    """``POST {base_url}/chat/completions`` with ``response_format: json_object``.

    ``base_url`` includes the API version path (``https://api.openai.com/v1``,
    ``http://localhost:11434/v1`` for Ollama, ``https://openrouter.ai/api/v1``).
    """

    name = "openai"
    remote = True

    def __init__(self, *, base_url: str, model: str, api_key: str | None) -> None:
        if not base_url or not model:
            raise ProviderError("STRATEGIST_LLM_BASE_URL and STRATEGIST_LLM_MODEL are required "
                                "for the openai provider", code=LLM_NOT_CONFIGURED)
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self._api_key = api_key
        self._client = httpx.Client(follow_redirects=False)

    def complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse:
        headers = {"content-type": "application/json"}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "system", "content": request.system},
                         {"role": "user", "content": request.user}],
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "response_format": {"type": "json_object"},
        }
        data = post_json(self._client, self.url, body=body, headers=headers, timeout=timeout,
                         provider=self.name)
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise ProviderError("openai: no choices[0].message.content in the answer",
                                code=LLM_BAD_RESPONSE) from None
        if not isinstance(text, str):
            raise ProviderError("openai: the message content is not text", code=LLM_BAD_RESPONSE)
        if choice.get("finish_reason") == "length":
            raise ProviderError("openai: the answer was cut at max_tokens",
                                code=LLM_BAD_RESPONSE)
        raw_usage = data.get("usage")
        usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
        return ChatResponse(text=text, model=str(data.get("model") or self.model),
                            prompt_tokens=int(usage.get("prompt_tokens") or 0),
                            completion_tokens=int(usage.get("completion_tokens") or 0))
