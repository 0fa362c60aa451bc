"""Seed one HardGate row per code-defined gate so the admin can show and edit them."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def seed(apps: Any, schema_editor: Any) -> None:
    from governance.hard_gates import hard_gate_defaults

    hard_gate = apps.get_model("governance", "HardGate")
    for key, value in hard_gate_defaults().items():
        hard_gate.objects.get_or_create(key=key, defaults={"value": value})


class Migration(migrations.Migration):
    dependencies = [("governance", "0002_audit_immutable")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
