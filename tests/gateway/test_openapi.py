"""The Actions OpenAPI document obeys every rule ChatGPT's GPT builder enforces (design §2):
one https server, unique operationIds, short descriptions, inline parameters, an OAuth scheme
on the API's own host, scopes on every operation and consequential writes marked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic import ValidationError

from cga_gateway.main import create_app
from cga_gateway.settings import GatewaySettings

PUBLIC_URL = "https://memory.example.com"
SCHEME = "oauth2"
READ, WRITE, DELETE = "memories:read", "memories:write", "memories:delete"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# POSTs that only read: everything else that is not a GET changes the user's data.
READ_ONLY_POSTS = {"searchMemories"}
# Statuses every Actions call can answer besides its own: no token, no scope, rate limited,
# dependencies down, invalid input.
ERROR_STATUSES_EVERYWHERE = {"401", "403", "422", "429", "503"}
ERROR_BODY_REF = "#/components/schemas/ErrorBody"


Operation = tuple[str, str, dict[str, Any]]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    settings = GatewaySettings(public_url=PUBLIC_URL, auth_public_url=PUBLIC_URL)
    return create_app(settings).openapi()


@pytest.fixture(scope="module")
def operations(document: dict[str, Any]) -> list[Operation]:
    found = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]
    assert found, "the document has no operations at all"
    return found


def changes_data(method: str, operation: dict[str, Any]) -> bool:
    return method != "get" and operation["operationId"] not in READ_ONLY_POSTS


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair anywhere inside ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def parameters_of(document: dict[str, Any], path: str, operation: dict[str, Any]) -> list[Any]:
    path_level: list[Any] = document["paths"][path].get("parameters", [])
    return path_level + list(operation.get("parameters", []))


def test_it_is_openapi_3_1(document: dict[str, Any]) -> None:
    assert re.fullmatch(r"3\.1\.\d+", document["openapi"]), document["openapi"]


def test_it_names_exactly_one_server_and_it_is_https(document: dict[str, Any]) -> None:
    servers = document["servers"]

    assert len(servers) == 1
    assert urlsplit(servers[0]["url"]).scheme == "https"
    assert servers[0]["url"] == PUBLIC_URL


def test_every_operation_has_a_unique_operation_id(operations: list[Operation]) -> None:
    ids = [operation.get("operationId") for _, _, operation in operations]

    assert all(ids), "an operation has no operationId"
    assert len(ids) == len(set(ids)), f"duplicate operationIds: {ids}"
    # ChatGPT turns each operation into a function whose name is the operationId.
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", str(id_)) for id_ in ids), ids


def test_summaries_and_descriptions_fit_in_300_characters(operations: list[Operation]) -> None:
    for path, method, operation in operations:
        assert operation.get("summary"), f"{method.upper()} {path} has no summary"
        for field in ("summary", "description"):
            text = operation.get(field, "")
            assert len(text) <= 300, f"{method.upper()} {path} {field}: {len(text)} characters"


def test_parameter_descriptions_fit_in_700_characters(
    document: dict[str, Any], operations: list[Operation]
) -> None:
    for path, method, operation in operations:
        for parameter in parameters_of(document, path, operation):
            name = f"{method.upper()} {path} parameter {parameter.get('name')}"
            assert parameter.get("description"), f"{name} has no description"
            for description in (parameter["description"], parameter["schema"].get("description")):
                assert len(description or "") <= 700, name


def test_parameters_are_inline_without_refs(
    document: dict[str, Any], operations: list[Operation]
) -> None:
    assert "parameters" not in document.get("components", {})
    for path, method, operation in operations:
        refs = [
            value for key, value in walk(parameters_of(document, path, operation)) if key == "$ref"
        ]
        assert not refs, f"{method.upper()} {path} parameters use $ref: {refs}"


def test_there_are_fewer_than_30_operations(operations: list[Operation]) -> None:
    assert len(operations) < 30


def test_the_oauth2_scheme_is_authorization_code_on_the_servers_host(
    document: dict[str, Any],
) -> None:
    schemes = document["components"]["securitySchemes"]
    server_host = urlsplit(document["servers"][0]["url"]).hostname

    assert set(schemes) == {SCHEME}
    assert schemes[SCHEME]["type"] == "oauth2"
    flows = schemes[SCHEME]["flows"]
    assert set(flows) == {"authorizationCode"}
    flow = flows["authorizationCode"]
    fields = ["authorizationUrl", "tokenUrl", *(["refreshUrl"] if "refreshUrl" in flow else [])]
    for field in fields:
        url = urlsplit(flow[field])
        assert url.scheme == "https", f"{field} {flow[field]}"
        assert url.hostname == server_host, f"{field} {flow[field]} is not on {server_host}"
    assert set(flow["scopes"]) == {READ, WRITE, DELETE}
    assert all(flow["scopes"].values()), "every scope has a description for the consent page"


def test_every_operation_requires_the_scope_its_action_needs(
    operations: list[Operation],
) -> None:
    for path, method, operation in operations:
        if method == "delete":
            needed = DELETE
        elif changes_data(method, operation):
            needed = WRITE
        else:
            needed = READ
        assert operation.get("security") == [{SCHEME: [needed]}], f"{method.upper()} {path}"


def test_operations_that_change_data_are_consequential(operations: list[Operation]) -> None:
    changing = [(p, m, o) for p, m, o in operations if changes_data(m, o)]

    assert changing, "the document has no operation that changes data"
    for path, method, operation in changing:
        assert operation.get("x-openai-isConsequential") is True, f"{method.upper()} {path}"


def test_reads_are_not_consequential(operations: list[Operation]) -> None:
    for path, method, operation in operations:
        if changes_data(method, operation):
            continue
        name = f"{method.upper()} {path}"
        if method == "get":
            assert operation.get("x-openai-isConsequential", False) is False, name
        else:
            # ChatGPT treats a non-GET without the flag as consequential: say false outright.
            assert operation.get("x-openai-isConsequential") is False, name


def test_error_responses_use_the_error_body(
    document: dict[str, Any], operations: list[Operation]
) -> None:
    body = document["components"]["schemas"]["ErrorBody"]
    assert set(body["required"]) == {"error", "detail"}
    assert {name: field["type"] for name, field in body["properties"].items()} == {
        "error": "string",
        "detail": "string",
    }
    for path, method, operation in operations:
        responses = operation["responses"]
        name = f"{method.upper()} {path}"
        assert set(responses) >= ERROR_STATUSES_EVERYWHERE, f"{name}: {sorted(responses)}"
        for status, response in responses.items():
            if status == "default" or int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": ERROR_BODY_REF}, f"{name} {status}: {schema}"


def test_parameter_schemas_are_never_nullable(
    document: dict[str, Any], operations: list[Operation]
) -> None:
    for path, method, operation in operations:
        for parameter in parameters_of(document, path, operation):
            name = f"{method.upper()} {path} parameter {parameter['name']}"
            for key, value in walk(parameter["schema"]):
                if key in {"anyOf", "oneOf"}:
                    assert {"type": "null"} not in value, f"{name}: {key} {value}"
                if key == "type":
                    assert "null" not in (value if isinstance(value, list) else [value]), name


@pytest.fixture
def production_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Production with every secret set, so only the URL rule can refuse the settings."""
    for name in list(GatewaySettings.model_fields):
        monkeypatch.delenv(GatewaySettings.variable_name(name), raising=False)
    monkeypatch.setenv("CGA_ENV", "production")
    monkeypatch.setenv("CGA_DATABASE_URL", "postgresql+asyncpg://cga:s3cret@db:5432/cga")
    monkeypatch.setenv("CGA_REDIS_URL", "rediss://:s3cret@redis:6379/0")
    monkeypatch.setenv("CGA_INTERNAL_TOKEN", "a-real-internal-token-for-production")


@pytest.mark.usefixtures("production_env")
@pytest.mark.parametrize("field", ["public_url", "auth_public_url"])
def test_production_settings_refuse_an_http_public_url(field: str) -> None:
    urls: dict[str, Any] = {"public_url": PUBLIC_URL, "auth_public_url": PUBLIC_URL}
    urls[field] = "http://memory.example.com"

    with pytest.raises(ValidationError, match=f"CGA_GATEWAY_{field.upper()} must be https"):
        GatewaySettings(**urls)


@pytest.mark.usefixtures("production_env")
def test_production_settings_accept_https_public_urls() -> None:
    settings = GatewaySettings(public_url=PUBLIC_URL, auth_public_url=PUBLIC_URL)

    assert str(settings.public_url).startswith("https://")
