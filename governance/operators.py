"""Staff operators with a confirmed TOTP device (provisioning and the demo admin)."""

from __future__ import annotations

import base64
import binascii

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from governance.audit import audit_record
from governance.errors import ValidationFailed
from governance.models import ActorKind


def _b32_to_hex(secret: str) -> str:
    cleaned = secret.replace(" ", "").upper()
    padded = cleaned + "=" * (-len(cleaned) % 8)
    try:
        raw = base64.b32decode(padded)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed("the TOTP secret must be base32",
                               code="INVALID_TOTP_SECRET") from exc
    if len(raw) < 10:
        raise ValidationFailed("the TOTP secret must carry at least 80 bits",
                               code="INVALID_TOTP_SECRET")
    return raw.hex()


def operator_upsert(
    *, username: str, password: str, totp_secret_b32: str, superuser: bool, actor: str = "cli"
) -> AbstractBaseUser:
    """Create or update a staff user and (re)bind one confirmed TOTP device to the secret."""
    key_hex = _b32_to_hex(totp_secret_b32)
    user_model = get_user_model()
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(username=username)
        user.is_staff = True
        user.is_superuser = superuser
        user.set_password(password)
        user.save()
        TOTPDevice.objects.filter(user=user).delete()
        TOTPDevice.objects.create(user=user, name="default", key=key_hex, confirmed=True)
        audit_record(
            event_type="auth.operator_upsert",
            actor=actor,
            actor_kind=ActorKind.SYSTEM,
            summary=f"operator {username} {'created' if created else 'updated'}",
            payload={"username": username, "superuser": superuser},
        )
    return user
