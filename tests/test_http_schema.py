"""schemathesis against the app's own OpenAPI schema, on the live server: valid and invalid
generated requests must never give a 500, and responses must match the documented schema.

(schemathesis' own pytest plugin does not run under this pytest version, so each operation is
driven through its Hypothesis strategy directly.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bot.http import ServerThread, create_app
from bot.service import AnswerService

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
OPERATIONS = [
    "POST /ask",
    "POST /ask/stream",
    "GET /health",
    "GET /v1/models",
    "POST /v1/chat/completions",
    "GET /articles",
    "POST /articles",
    "DELETE /articles/{article_id}",
]


@pytest.fixture(scope="module")
def api_schema(tiny_service, embedder):
    service = AnswerService(tiny_service.settings.model_copy(update={"rate_limit_per_minute": 0}), embedder=embedder)
    with ServerThread(create_app(service)) as url:
        yield schemathesis.openapi.from_url(f"{url}/openapi.json")


def test_every_operation_is_fuzzed(api_schema):
    found = sorted(f"{op.ok().method.upper()} {op.ok().path}" for op in api_schema.get_all_operations())
    assert found == sorted(OPERATIONS)


CASES = [(op, GenerationMode.POSITIVE) for op in OPERATIONS] + [
    (op, GenerationMode.NEGATIVE)
    for op in OPERATIONS
    if op.startswith("POST")  # GETs take no input to break
]


@pytest.mark.parametrize("operation,mode", CASES, ids=[f"{op}-{mode}" for op, mode in CASES])
def test_generated_requests(api_schema, operation, mode):
    method, path = operation.split(" ")
    strategy = api_schema[path][method].as_strategy(generation_mode=mode)

    @settings(max_examples=15, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case) -> None:
        case.call_and_validate(checks=CHECKS, timeout=30)

    run()
