"""The bench's stub Memory Bank answers mem0's self-hosted contract and counts calls by route."""

from __future__ import annotations

import json
from typing import Any

from scripts.bench.stub_memory_bank import CALLS_PATH, StubBank, http_response


def _body(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def _add(bank: StubBank, owner: str, content: str) -> str:
    status, answer = bank.answer(
        "POST",
        "/memories",
        _body({"messages": [{"role": "user", "content": content}], "user_id": owner}),
    )
    assert status == 200
    return str(answer["results"][0]["id"])


def test_memories_added_are_searched_listed_and_read_per_owner() -> None:
    bank = StubBank()
    memory_id = _add(bank, "cga-ada", "likes green tea")
    _add(bank, "cga-bob", "likes coffee")

    _, found = bank.answer(
        "POST", "/search", _body({"query": "tea", "filters": {"user_id": "cga-ada"}, "top_k": 5})
    )
    _, listed = bank.answer("GET", "/memories?user_id=cga-ada", b"")
    _, read = bank.answer("GET", f"/memories/{memory_id}", b"")

    assert [item["memory"] for item in found["results"]] == ["likes green tea"]
    assert found["results"][0]["score"] > 0.1  # kept by mem0's default threshold
    assert [item["id"] for item in listed["results"]] == [memory_id]
    assert read["user_id"] == "cga-ada"


def test_search_returns_at_most_top_k() -> None:
    bank = StubBank()
    for n in range(4):
        _add(bank, "cga-ada", f"fact {n}")

    _, found = bank.answer(
        "POST", "/search", _body({"query": "x", "filters": {"user_id": "cga-ada"}, "top_k": 2})
    )

    assert len(found["results"]) == 2


def test_an_unknown_id_is_200_with_null_as_mem0_answers() -> None:
    assert StubBank().answer("GET", "/memories/nope", b"") == (200, None)


def test_a_deleted_memory_is_gone() -> None:
    bank = StubBank()
    memory_id = _add(bank, "cga-ada", "likes green tea")

    status, _ = bank.answer("DELETE", f"/memories/{memory_id}", b"")

    assert status == 200
    assert bank.answer("GET", f"/memories/{memory_id}", b"") == (200, None)
    assert bank.answer("GET", "/memories?user_id=cga-ada", b"") == (200, {"results": []})


def test_an_unreadable_body_is_422() -> None:
    status, answer = StubBank().answer("POST", "/search", b"{not json")

    assert status == 422
    assert "detail" in answer


def test_calls_are_counted_by_route_and_the_count_itself_is_not() -> None:
    bank = StubBank()
    memory_id = _add(bank, "cga-ada", "likes green tea")
    bank.answer("GET", f"/memories/{memory_id}", b"")
    bank.answer("GET", "/memories/another", b"")
    bank.answer("GET", CALLS_PATH, b"")

    _, calls = bank.answer("GET", CALLS_PATH, b"")

    assert calls == {"POST /memories": 1, "GET /memories/{id}": 2}


def test_responses_are_http_1_1_with_a_content_length() -> None:
    raw = http_response(200, {"results": []}, keep_alive=True)

    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert f"content-length: {len(body)}".encode() in head
    assert b"connection: keep-alive" in head
