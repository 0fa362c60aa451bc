"""schemathesis against the served OpenAPI schema: no 5xx, and responses match the schema.

The schema is the one ``/api/v1/openapi.json`` serves; requests go through the WSGI app in
this thread, inside the test's transaction.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cio_site.wsgi import application
from governance.api import api
from governance.auth import api_token_create

schema = schemathesis.openapi.from_dict(
    api.get_openapi_schema(path_prefix="/api/v1/"))  # type: ignore[arg-type]
schema.app = application


@pytest.fixture
def fuzz_headers(db: None, settings: object, redis_client: redis.Redis
                 ) -> Iterator[dict[str, str]]:
    # Enough write budget that the fuzzer exercises the writes, not only the rate limiter.
    settings.CIO_API_WRITE_RATE_PER_MIN = 1_000_000  # type: ignore[attr-defined]
    settings.CIO_FLEET_SYNC_DISPATCH = "none"  # type: ignore[attr-defined]
    _, token = api_token_create(principal="fuzzer",
                                scopes=["read", "config:write", "state:write"],
                                created_by="test")
    # As Django's test client does: a request must not close the test's connection, which
    # holds the transaction the test runs in.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield {"Authorization": f"Bearer {token}"}
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_api_conforms_and_never_answers_5xx(case: schemathesis.Case,
                                            fuzz_headers: dict[str, str]) -> None:
    response = case.call(headers=fuzz_headers)
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
    assert set(response.json()) == {"success", "data", "trace_id", "error"}
    case.validate_response(response, checks=[status_code_conformance,
                                             content_type_conformance,
                                             response_schema_conformance])
