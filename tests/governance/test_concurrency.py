"""Two writers on the same scope and base version: exactly one wins, no lost update."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from governance import services
from governance.errors import StaleVersion
from governance.models import ActorKind, ConfigVersion
from governance.scopes import Scope
from governance.selectors import config_head


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first_write", [True, False], ids=["new-scope", "existing-scope"])
def test_concurrent_writers_one_wins_one_gets_stale(first_write: bool) -> None:
    scope = Scope.symbol("BTCUSDT")
    base = 0
    if not first_write:
        services.config_patch(scope=scope, patch={"leverage": 9}, base_version=0, reason="seed",
                              actor="seed", actor_kind=ActorKind.USER)
        base = 1
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def writer(name: str, leverage: int) -> None:
        try:
            barrier.wait(timeout=5)
            services.config_patch(scope=scope, patch={"leverage": leverage}, base_version=base,
                                  reason=name, actor=name, actor_kind=ActorKind.USER)
            outcomes[name] = "won"
        except StaleVersion as exc:
            outcomes[name] = exc.code
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=("w1", 3)),
               threading.Thread(target=writer, args=("w2", 4))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert sorted(outcomes.values()) == ["STALE_VERSION", "won"]
    winner = next(k for k, v in outcomes.items() if v == "won")
    version, params = config_head(scope=scope)
    assert version == base + 1
    assert params == {"leverage": 3 if winner == "w1" else 4}
    assert ConfigVersion.objects.filter(scope_key="BTCUSDT").count() == base + 1
