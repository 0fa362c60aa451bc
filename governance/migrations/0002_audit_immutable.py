"""The database itself refuses UPDATE and DELETE on the audit trail (PostgreSQL and SQLite)."""

from __future__ import annotations

from typing import Any

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION governance_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'governance_auditevent is append-only (' || TG_OP || ' refused)',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER governance_audit_no_update_delete
    BEFORE UPDATE OR DELETE ON governance_auditevent
    FOR EACH ROW EXECUTE FUNCTION governance_audit_append_only();
"""
PG_REVERSE = """
DROP TRIGGER IF EXISTS governance_audit_no_update_delete ON governance_auditevent;
DROP FUNCTION IF EXISTS governance_audit_append_only();
"""
SQLITE_FORWARD = [
    """CREATE TRIGGER governance_audit_no_update BEFORE UPDATE ON governance_auditevent
       BEGIN SELECT RAISE(ABORT, 'governance_auditevent is append-only (UPDATE refused)'); END;""",
    """CREATE TRIGGER governance_audit_no_delete BEFORE DELETE ON governance_auditevent
       BEGIN SELECT RAISE(ABORT, 'governance_auditevent is append-only (DELETE refused)'); END;""",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS governance_audit_no_update;",
    "DROP TRIGGER IF EXISTS governance_audit_no_delete;",
]


def forward(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)
    else:
        raise RuntimeError(f"no append-only guard for database vendor {vendor!r}")


def reverse(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    statements = [PG_REVERSE] if vendor == "postgresql" else SQLITE_REVERSE
    for statement in statements:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("governance", "0001_initial")]
    operations = [migrations.RunPython(forward, reverse)]
