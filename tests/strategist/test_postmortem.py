"""Post-mortems: structured report, memory, and the human review of the proposed change."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from governance.errors import Conflict
from governance.models import ConfigVersion
from governance.scopes import Scope
from governance.selectors import config_head
from strategist.ladder import Thresholds, ladder_apply
from strategist.memory.services import memory_search
from strategist.models import PostMortem
from strategist.postmortem import post_mortem_review

pytestmark = pytest.mark.django_db


def test_breach_report_memory_and_review(redis_client: Any, settings: Any) -> None:
    settings.STRATEGIST_LADDER_STOP_FACTOR = 1.0
    ladder_apply(step="halt", drawdown=0.22, thresholds=Thresholds(), equity=Decimal("78000"),
                 peak_equity=Decimal("100000"))
    pm = PostMortem.objects.get()
    assert pm.status == "awaiting_review"
    assert set(pm.report) >= {"what_happened", "rules_fired", "shadow_roi",
                              "similar_episodes", "regime"}
    assert pm.proposed_change["patch"] == {"leverage": 7, "position_size_pct": 0.075,
                                           "drawdown_reduce_pct": 0.13}
    assert pm.memory_item is not None
    hits = memory_search(query="the drawdown breach that halted the fleet", limit=1)
    assert hits[0].kind == "post_mortem"
    assert not ConfigVersion.objects.exists()  # nothing applied before a human says so
    post_mortem_review(post_mortem_id=pm.pk, actor="alice", accept=True, note="agreed")
    assert config_head(scope=Scope.global_())[1]["leverage"] == 7
    assert ConfigVersion.objects.get().actor == "alice"
    with pytest.raises(Conflict):
        post_mortem_review(post_mortem_id=pm.pk, actor="bob", accept=False)
