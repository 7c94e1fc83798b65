"""The admission script (admission.lua) against a real Redis: revocation and both moving
windows in one round trip, a slot taken in both windows only when both admit. Windows of a
few seconds here stand in for the minute the gateway uses."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from cga_core.denylist import deny_grant, denylist_key
from cga_gateway.admission import Admission, Verdict
from cga_gateway.policies import AppPolicies, AppPolicy
from cga_gateway.tokens import Principal
from tests.support.env import TestStack

PLENTY = 1000
WINDOW_MS = 3000


@pytest.fixture
async def redis(stack: TestStack) -> AsyncIterator[Redis]:
    client = Redis.from_url(stack.redis.url())
    yield client
    await client.aclose()


@pytest.fixture
def admission(redis: Redis, engine: AsyncEngine) -> Admission:
    return Admission(redis, AppPolicies(engine, ttl=30))


def caller_of(client_id: str) -> Principal:
    return Principal(
        sub=str(uuid.uuid4()),
        client_id=client_id,
        scopes=frozenset({"memories:read"}),
        grant_id=str(uuid.uuid4()),
    )


def policy(per_app: int = PLENTY, per_user: int = PLENTY) -> AppPolicy:
    return AppPolicy(per_app=per_app, per_user=per_user, active=True)


async def verdicts(
    admission: Admission, callers: list[Principal], limits: AppPolicy
) -> list[Verdict]:
    return [(await admission.verdict(c, limits, WINDOW_MS))[0] for c in callers]


async def test_a_window_admits_its_limit_then_says_when_a_slot_frees(
    admission: Admission,
) -> None:
    alice = caller_of(str(uuid.uuid4()))

    answers = [await admission.verdict(alice, policy(per_user=3), WINDOW_MS) for _ in range(4)]

    assert [verdict for verdict, _ in answers] == [Verdict.ADMITTED] * 3 + [Verdict.USER_LIMITED]
    assert 0 < answers[-1][1] <= WINDOW_MS


async def test_the_window_moves_each_slot_frees_a_window_after_its_admission(
    admission: Admission,
) -> None:
    app = str(uuid.uuid4())
    callers = [caller_of(app) for _ in range(6)]
    limits = policy(per_app=3)
    assert await verdicts(admission, callers[:1], limits) == [Verdict.ADMITTED]
    await asyncio.sleep(WINDOW_MS / 2000)
    assert await verdicts(admission, callers[1:3], limits) == [Verdict.ADMITTED] * 2
    refused, wait_ms = await admission.verdict(callers[3], limits, WINDOW_MS)
    assert refused is Verdict.APP_LIMITED
    # The first admission leaves the window half a window before the other two.
    assert wait_ms <= WINDOW_MS / 2

    await asyncio.sleep(wait_ms / 1000 + 0.05)

    assert await verdicts(admission, callers[4:], limits) == [
        Verdict.ADMITTED,
        Verdict.APP_LIMITED,
    ]


async def test_a_request_one_window_refuses_takes_no_slot_in_the_other(
    admission: Admission,
) -> None:
    app = str(uuid.uuid4())
    alice, bob, carol = (caller_of(app) for _ in range(3))
    limits = policy(per_app=2, per_user=1)

    first = await verdicts(admission, [alice, alice, bob, carol], limits)
    # Carol, refused by the app window, has used none of her own: with room in the app's
    # window (a larger limit), she is admitted.
    later = await verdicts(admission, [carol], policy(per_app=3, per_user=1))

    assert first == [
        Verdict.ADMITTED,
        Verdict.USER_LIMITED,  # took no app slot: Bob still gets the second one
        Verdict.ADMITTED,
        Verdict.APP_LIMITED,
    ]
    assert later == [Verdict.ADMITTED]


async def test_a_revoked_grant_is_refused_and_takes_no_slot(
    admission: Admission, redis: Redis
) -> None:
    alice = caller_of(str(uuid.uuid4()))
    limits = policy(per_user=1)
    await deny_grant(redis, uuid.UUID(alice.grant_id), timedelta(minutes=1))

    revoked = await verdicts(admission, [alice, alice], limits)
    await redis.delete(denylist_key(alice.grant_id))

    assert revoked == [Verdict.REVOKED] * 2
    assert await verdicts(admission, [alice, alice], limits) == [
        Verdict.ADMITTED,
        Verdict.USER_LIMITED,
    ]


async def test_the_script_is_loaded_again_when_redis_has_forgotten_it(
    admission: Admission, redis: Redis
) -> None:
    alice = caller_of(str(uuid.uuid4()))
    assert await verdicts(admission, [alice], policy()) == [Verdict.ADMITTED]

    await redis.script_flush()

    assert await verdicts(admission, [alice], policy()) == [Verdict.ADMITTED]
