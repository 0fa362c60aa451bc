"""The audit trail: append-only in the database, hash-chained, verifiable."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from governance.audit import GENESIS_HASH, audit_record, audit_verify
from governance.models import AuditEvent

pytestmark = pytest.mark.django_db


def _three_events() -> list[AuditEvent]:
    return [audit_record(event_type="test.event", actor="t", summary=f"event {i}",
                         payload={"i": i, "price": 0.1 * i, "nested": {"ok": True}})
            for i in range(3)]


def test_chain_links_each_row_to_the_previous() -> None:
    events = _three_events()
    assert events[0].prev_hash == GENESIS_HASH
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[1].prev_hash == events[0].hash
    assert events[2].prev_hash == events[1].hash
    assert audit_verify().ok
    assert audit_verify().checked == 3


@pytest.mark.parametrize("statement", [
    "UPDATE governance_auditevent SET summary = 'forged' WHERE seq = 2",
    "DELETE FROM governance_auditevent WHERE seq = 2",
])
def test_database_refuses_update_and_delete(statement: str) -> None:
    _three_events()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), \
            connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditEvent.objects.get(seq=2).summary == "event 1"


def test_orm_update_and_delete_are_refused_too() -> None:
    _three_events()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(seq=1).update(actor="mallory")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(seq=1).delete()


def _tamper(sql: str) -> None:
    """Alter a row as an attacker with table-owner rights would: around the trigger."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE governance_auditevent DISABLE TRIGGER "
                       "governance_audit_no_update_delete")
        cursor.execute(sql)
        cursor.execute("ALTER TABLE governance_auditevent ENABLE TRIGGER "
                       "governance_audit_no_update_delete")


def test_verify_detects_an_altered_row() -> None:
    _three_events()
    _tamper("UPDATE governance_auditevent SET payload = '{\"i\": 99}' WHERE seq = 2")
    result = audit_verify()
    assert (result.ok, result.broken_seq) == (False, 2)
    with pytest.raises(CommandError, match="BROKEN at seq 2"):
        call_command("audit_verify")


def test_verify_detects_a_removed_row() -> None:
    _three_events()
    _tamper("DELETE FROM governance_auditevent WHERE seq = 2")
    result = audit_verify()
    assert (result.ok, result.broken_seq) == (False, 3)


def test_verify_command_reports_ok(capsys: pytest.CaptureFixture[str]) -> None:
    _three_events()
    call_command("audit_verify")
    assert "audit chain OK: 3 rows" in capsys.readouterr().out
