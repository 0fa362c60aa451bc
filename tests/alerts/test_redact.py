"""Secrets never reach logs or the delivery ledger."""

from __future__ import annotations

from typing import Any

from alerts.redact import redact


def test_configured_secrets_and_credential_shapes_are_masked(settings: Any) -> None:
    settings.EMAIL_HOST_PASSWORD = "mail-pass-123"
    settings.GRAFANA_API_TOKEN = "glsa_abcdef"
    settings.ALERT_WEBHOOK_URL = "https://hooks.slack.com/services/T1/B2/XyZsecret"
    text = redact(
        "login failed for mail-pass-123; Authorization: Bearer glsa_abcdef; "
        "POST https://hooks.slack.com/services/T1/B2/XyZsecret failed; "
        "url=https://api.telegram.org/bot12345:AAF-token_x/sendMessage "
        "dsn=https://user:pw@example.test/x password=letmein"
    )
    for secret in ("mail-pass-123", "glsa_abcdef", "XyZsecret", "AAF-token_x", "user:pw",
                   "letmein"):
        assert secret not in text
    assert "Bearer ***" in text


def test_redaction_caps_the_length() -> None:
    assert len(redact("x" * 5000)) == 1000
