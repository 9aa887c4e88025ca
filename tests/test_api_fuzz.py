"""Every API operation, fed generated input from its own OpenAPI schema, answers without a 5xx,
with a documented status, content type and body shape (schemathesis), both for an anonymous
caller and for a caller of the right role."""

from __future__ import annotations

import os

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import api_register, api_token, make_operator, producer_payload
from web.app import create_app

# Examples per operation; raise it for a deeper local run (CHOSO_TEST_FUZZ_EXAMPLES=300 make test).
FUZZ_EXAMPLES = int(os.environ.get("CHOSO_TEST_FUZZ_EXAMPLES", "25"))
app = create_app()
# A generous timeout: the schema is large, and a loaded CI machine may take a while to build it.
schema = schemathesis.openapi.from_asgi("/api/openapi.json", app, timeout=120)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def role_headers() -> dict[str, dict[str, str]]:
    with TestClient(app) as client:
        make_operator()
        api_register(client, producer_payload())
        return {
            "operator": api_token(client, "ops@example.vn"),
            "producer": api_token(client, "htx@example.vn"),
        }


@schema.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_fails_on_generated_input(
    case: schemathesis.Case, role_headers: dict[str, dict[str, str]]
) -> None:
    case.call_and_validate(checks=CHECKS)
    role = "operator" if case.path.startswith("/api/v1/operator") else "producer"
    case.call_and_validate(headers=role_headers[role], checks=CHECKS)
