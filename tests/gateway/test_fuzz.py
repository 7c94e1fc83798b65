"""Property-based fuzzing of a running gateway from its own /openapi.json (schemathesis):
whatever a GPT — or anyone holding a valid token — sends, the gateway never answers 5xx and
every answer matches the document it publishes.

The cases come from schemathesis' Hypothesis strategies and run under our own bounded,
derandomized settings: schemathesis' own pytest runner (``schemathesis.pytest.from_fixture``)
fails under the pytest in use (9.2) with "'Function' object has no attribute '_nodeid'"."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, Verbosity, example, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.support.actions import GptUser, seed_memory, sign_in
from tests.support.auth import admin_client, register_app
from tests.support.env import TestStack
from tests.support.processes import ServiceProcess, start_actions_stack

pytestmark = pytest.mark.e2e
ALL_SCOPES = ["memories:read", "memories:write", "memories:delete"]
UNLIMITED = 1_000_000  # the fuzzer must meet the API, not the rate limiter
OPERATION_IDS = [
    "searchMemories",
    "listMemories",
    "getMemory",
    "deleteMemory",
    "createMemory",
    "getMemoryJob",
]
CHECKS = [
    not_a_server_error,  # any 5xx fails, 503 included: every dependency is up here
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,  # invalid input is refused with a 4xx
]
FUZZ_SETTINGS = settings(
    max_examples=25,
    derandomize=True,  # the same cases on every run
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failure is reported
    deadline=None,
    suppress_health_check=list(HealthCheck),
    verbosity=Verbosity.quiet,
)


@pytest.fixture(scope="module")
def fuzzed_services(
    stack: TestStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    services = start_actions_stack(stack.environment(), tmp_path_factory.mktemp("fuzz-logs"))
    yield services
    for service in services.values():
        service.stop()


@pytest.fixture(scope="module")
def user(fuzzed_services: dict[str, ServiceProcess]) -> GptUser:
    """A user of an app with every scope and no practical rate limit."""
    with admin_client(f"http://127.0.0.1:{fuzzed_services['auth'].admin_port}") as admin:
        app = register_app(
            admin,
            scopes=ALL_SCOPES,
            rate_limit_per_minute=UNLIMITED,
            user_rate_limit_per_minute=UNLIMITED,
        )
        return sign_in(fuzzed_services["auth"].base_url, admin, app)


@pytest.fixture(scope="module")
def memory_ids(fuzzed_services: dict[str, ServiceProcess], user: GptUser) -> list[str]:
    """The user's memories: searches and lists find something, and reads and deletes get an
    explicit case each with an id that exists (random ids almost never do)."""
    memory_proxy_url = fuzzed_services["memory-proxy"].base_url
    return [
        seed_memory(memory_proxy_url, user.sub, content, topic="fuzz")
        for content in ("Likes green tea", "Sister lives in Lisbon", "Allergic to peanuts")
    ]


@pytest.fixture(scope="module")
def gateway_schema(fuzzed_services: dict[str, ServiceProcess]) -> OpenApiSchema:
    """The document the running gateway publishes, as a GPT builder would import it."""
    gateway_url = fuzzed_services["gateway"].base_url
    config = schemathesis.Config.from_dict({"base-url": gateway_url, "request-timeout": 10})
    return schemathesis.openapi.from_url(gateway_url + "/openapi.json", config=config)


def test_every_documented_operation_is_fuzzed(gateway_schema: OpenApiSchema) -> None:
    documented = [
        operation["operationId"]
        for item in gateway_schema.raw_schema["paths"].values()
        for operation in item.values()
    ]

    assert sorted(documented) == sorted(OPERATION_IDS)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("operation_id", OPERATION_IDS)
def test_the_gateway_never_fails_and_answers_as_documented(
    gateway_schema: OpenApiSchema,
    user: GptUser,
    memory_ids: list[str],
    operation_id: str,
    mode: GenerationMode,
) -> None:
    operation = gateway_schema.find_operation_by_id(operation_id)

    def exchange(case: Case[Any]) -> None:
        case.call_and_validate(headers=user.headers, checks=CHECKS)

    fuzz = given(case=operation.as_strategy(generation_mode=mode))(exchange)
    if mode is GenerationMode.POSITIVE and "{memory_id}" in operation.path:
        # Reads and deletes each get a memory of their own that exists.
        memory_id = memory_ids[0] if operation.method.lower() == "get" else memory_ids[1]
        fuzz = example(case=operation.Case(path_parameters={"memory_id": memory_id}))(fuzz)
    FUZZ_SETTINGS(fuzz)()
