"""E-mail through Django's configured backend (SMTP in production), plain text plus HTML."""

from __future__ import annotations

import smtplib
from typing import ClassVar

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string

from alerts.channels.base import AlertMessage, Channel, ChannelError, ChannelResult
from alerts.redact import redact


class EmailChannel(Channel):
    """Confirmed when the SMTP server accepted the message (250 after DATA) for the recipients."""

    name: ClassVar[str] = "email"
    label: ClassVar[str] = "E-mail (SMTP)"

    def configured(self) -> bool:
        return bool(settings.EMAIL_HOST and settings.ALERT_EMAIL_TO)

    def build(self, message: AlertMessage) -> EmailMultiAlternatives:
        mail = EmailMultiAlternatives(
            subject=f"{settings.ALERT_EMAIL_SUBJECT_PREFIX}{message.title}"[:250],
            body=message.text,
            from_email=settings.ALERT_EMAIL_FROM,
            to=list(settings.ALERT_EMAIL_TO),
            headers={"X-Petrosa-Alert": message.delivery_key,
                     "X-Petrosa-Severity": message.severity},
        )
        mail.attach_alternative(render_to_string("alerts/email.html", {"m": message}), "text/html")
        return mail

    def send(self, message: AlertMessage) -> ChannelResult:
        mail = self.build(message)
        try:
            connection = get_connection(fail_silently=False, timeout=settings.EMAIL_TIMEOUT)
            sent = connection.send_messages([mail])
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            raise ChannelError(redact(f"{type(exc).__name__}: {exc}")) from None
        if sent != 1:
            raise ChannelError("the SMTP server accepted no message")
        return ChannelResult(confirmed=True, detail=f"accepted for {len(mail.to)} recipient(s)")
