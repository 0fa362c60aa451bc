"""The nurse admin is read-only: staff can list and open records, nobody can change them."""

from __future__ import annotations

import pytest

from nurse.models import ShadowPosition
from nurse.shadow.services import shadow_positions_mark, shadow_positions_scan
from tests.earnings.conftest import staff_client
from tests.shadow.conftest import RecordFn, utc

pytestmark = pytest.mark.django_db


def test_admin_lists_and_shows_but_never_changes(record: RecordFn) -> None:
    record(received=utc(2021, 5, 19, 12, 0), payload={"stop_loss": 38000.0,
                                                      "take_profit": 39200.0})
    shadow_positions_scan()
    shadow_positions_mark(now=utc(2021, 5, 25))
    client = staff_client()
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(username="ops").update(is_superuser=True)
    for url in ("/admin/nurse/decisionrecord/", "/admin/nurse/shadowposition/",
                "/admin/nurse/executionfill/", "/admin/nurse/earningsreport/"):
        assert client.get(url).status_code == 200, url
    pos = ShadowPosition.objects.get()
    page = client.get(f"/admin/nurse/shadowposition/{pos.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "4.221" in html  # the marks inline
    assert 'name="_save"' not in html
    assert client.get("/admin/nurse/decisionrecord/add/").status_code == 403
    assert client.post(f"/admin/nurse/shadowposition/{pos.pk}/delete/").status_code == 403
