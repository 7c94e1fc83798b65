"""Accepted means durable, end to end: writes posted to the real gateway and written by a real
worker process through a real memory-proxy while the worker is killed, Redis forgets its queue
or the Memory Bank is down — and every accepted write is stored exactly once."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.memory_proxy.mem0_simulator import Mem0Simulator, Mode, running_simulator
from tests.support.actions import GptUser, sign_in
from tests.support.auth import RegisteredApp, admin_client, register_app
from tests.support.env import TestStack
from tests.support.processes import ServiceProcess, executable, start_actions_stack, start_service
from tests.support.writes import (
    WRITES,
    all_older_than,
    backend_user,
    eventually,
    failed_jobs,
    job_statuses,
    metric_value,
    owner_statuses,
    post_writes,
    start_worker,
    stored_contents,
    wait_until_finished,
    worker_environment,
)

pytestmark = pytest.mark.e2e

PLENTY = 1_000_000
REQUEUE_AFTER_SECONDS = 2
# A killed worker's jobs run again after job timeout + 10 s (ARQ); lost ones within seconds.
FAST_WORKER = {
    "job_timeout": "3s",
    "sweep_every_seconds": "2",
    "requeue_after": f"{REQUEUE_AFTER_SECONDS}s",
    "metrics_interval": "200ms",
}
MEM0_API_KEY = "m0-durable-writes-key"


@pytest.fixture(scope="module")
async def empty_outbox(stack: TestStack, engine: AsyncEngine) -> None:
    """No jobs left by other modules: the queue and dead-letter gauges count the whole
    outbox, and the sweeper would pick those jobs up."""
    async with engine.begin() as connection:
        await connection.execute(text("TRUNCATE memory_jobs"))
    with Redis.from_url(stack.redis.url()) as redis:
        redis.flushall()


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("durable-writes-logs")


@pytest.fixture(scope="module")
def services(
    stack: TestStack, empty_outbox: None, log_dir: Path
) -> Iterator[dict[str, ServiceProcess]]:
    services = start_actions_stack(stack.environment(), log_dir)
    yield services
    for service in services.values():
        service.stop()


@pytest.fixture(scope="module")
def admin(services: dict[str, ServiceProcess]) -> Iterator[httpx.Client]:
    with admin_client(f"http://127.0.0.1:{services['auth'].admin_port}") as client:
        yield client


@pytest.fixture(scope="module")
def app(admin: httpx.Client) -> RegisteredApp:
    return register_app(
        admin,
        scopes=["memories:read", "memories:write"],
        rate_limit_per_minute=PLENTY,
        user_rate_limit_per_minute=PLENTY,
    )


@pytest.fixture
def user(services: dict[str, ServiceProcess], admin: httpx.Client, app: RegisteredApp) -> GptUser:
    return sign_in(services["auth"].base_url, admin, app)


@pytest.fixture
def stranger(
    services: dict[str, ServiceProcess], admin: httpx.Client, app: RegisteredApp
) -> GptUser:
    return sign_in(services["auth"].base_url, admin, app)


@pytest.fixture
def gateway_url(services: dict[str, ServiceProcess]) -> str:
    return services["gateway"].base_url


@pytest.fixture
async def api(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=10) as client:
        yield client


@pytest.fixture
def worker_env(stack: TestStack, services: dict[str, ServiceProcess]) -> dict[str, str]:
    """A worker writing to the local Memory Bank through the stack's memory-proxy."""
    return worker_environment(stack.environment(), services["memory-proxy"].base_url, **FAST_WORKER)


def contents_for(user: GptUser, count: int) -> list[str]:
    run = uuid.uuid4().hex[:8]
    return [f"Fact number {n} of run {run} for {user.email}" for n in range(count)]


async def job_state(api: httpx.AsyncClient, user: GptUser, job_id: uuid.UUID) -> dict[str, Any]:
    response = await api.get(f"{WRITES}/jobs/{job_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


async def test_no_write_is_lost_or_stored_twice_when_the_worker_is_killed_mid_drain(
    engine: AsyncEngine,
    gateway_url: str,
    user: GptUser,
    worker_env: dict[str, str],
    log_dir: Path,
) -> None:
    contents = contents_for(user, 500)
    workers = [start_worker(worker_env, log_dir, "worker-killed-0")]
    posting = asyncio.create_task(post_writes(gateway_url, user, contents))
    unfinished_at_kills: list[int] = []
    try:
        for kill, stored_before_kill in enumerate((100, 300), start=1):

            async def stored_enough(enough: int = stored_before_kill) -> bool:
                return (await owner_statuses(engine, user))["succeeded"] >= enough

            await eventually(f"{stored_before_kill} writes stored", stored_enough, within=30)
            workers[-1].process.kill()  # SIGKILL: jobs cut off between the write and the mark
            workers[-1].process.wait()
            statuses = await owner_statuses(engine, user)
            unfinished_at_kills.append(statuses["queued"] + statuses["running"])
            replacement = f"worker-killed-{kill}"
            workers.append(await asyncio.to_thread(start_worker, worker_env, log_dir, replacement))
        job_ids = await posting
        final = await wait_until_finished(engine, job_ids, within=45)
    finally:
        posting.cancel()
        for worker in workers:
            worker.stop()

    assert len(set(job_ids)) == 500
    assert final == Counter(succeeded=500)
    stored = await stored_contents(engine, user)
    assert len(stored) == 500, f"{len(stored)} memories stored for 500 writes"
    assert sorted(stored) == sorted(contents)
    assert any(unfinished_at_kills), "the worker was never killed with writes left to do"


async def test_writes_redis_lost_are_enqueued_again_by_the_sweeper(
    engine: AsyncEngine,
    stack: TestStack,
    gateway_url: str,
    user: GptUser,
    worker_env: dict[str, str],
    log_dir: Path,
) -> None:
    contents = contents_for(user, 200)
    job_ids = await post_writes(gateway_url, user, contents)
    assert await job_statuses(engine, job_ids) == Counter(queued=200)
    with Redis.from_url(stack.redis.url()) as redis:
        redis.flushall()  # the ARQ queue and its jobs are gone; the outbox rows are not
    # Due for the sweeper when the worker starts, so its first run takes them all at once.
    await eventually(
        "the writes to be due for the sweeper",
        lambda: all_older_than(engine, job_ids, REQUEUE_AFTER_SECONDS),
        within=REQUEUE_AFTER_SECONDS + 5,
    )

    worker = start_worker(worker_env, log_dir, "worker-after-flush")
    try:
        final = await wait_until_finished(engine, job_ids, within=30)
    finally:
        worker.stop()

    assert final == Counter(succeeded=200)
    assert sorted(await stored_contents(engine, user)) == sorted(contents)


async def test_the_worker_outlives_a_redis_outage_mid_drain_and_finishes_every_write(
    engine: AsyncEngine,
    stack: TestStack,
    gateway_url: str,
    user: GptUser,
    worker_env: dict[str, str],
    log_dir: Path,
) -> None:
    contents = contents_for(user, 300)
    worker = start_worker(worker_env, log_dir, "worker-redis-outage")
    try:
        job_ids = await post_writes(gateway_url, user, contents)
        stack.redis.stop()  # mid-drain: the queue is lost with it (not persisted)
        await asyncio.sleep(3)
        stack.redis.start()
        final = await wait_until_finished(engine, job_ids, within=REQUEUE_AFTER_SECONDS + 40)
        alive = worker.process.poll() is None
    finally:
        worker.stop()

    assert alive, worker.log_path.read_text()[-2000:]
    assert final == Counter(succeeded=300)
    assert sorted(await stored_contents(engine, user)) == sorted(contents)


@pytest.fixture
def simulator() -> Iterator[Mem0Simulator]:
    with running_simulator(MEM0_API_KEY) as simulator:
        yield simulator


@pytest.fixture
def mem0_memory_proxy(
    stack: TestStack, simulator: Mem0Simulator, log_dir: Path
) -> Iterator[ServiceProcess]:
    environment = {
        **stack.environment(),
        **simulator.backend_environment(),
        "CGA_MEMORY_PROXY_BREAKER_FAILURE_THRESHOLD": "3",
        "CGA_MEMORY_PROXY_BREAKER_COOLDOWN": "300ms",
        "CGA_MEMORY_PROXY_RETRY_ATTEMPTS": "1",
    }
    proxy = start_service("memory-proxy", environment, log_dir, name="memory-proxy-mem0")
    try:
        proxy.wait_until_live()
        yield proxy
    finally:
        proxy.stop()


async def test_a_database_restart_after_the_memory_bank_stored_a_write_does_not_store_it_twice(
    engine: AsyncEngine,
    stack: TestStack,
    gateway_url: str,
    user: GptUser,
    simulator: Mem0Simulator,
    mem0_memory_proxy: ServiceProcess,
    log_dir: Path,
) -> None:
    # mem0 has no idempotency key: a job left running would be written again by the sweeper.
    environment = worker_environment(
        stack.environment(), mem0_memory_proxy.base_url, **{**FAST_WORKER, "job_timeout": "10s"}
    )
    worker = start_worker(environment, log_dir, "worker-mark-retry")
    try:
        simulator.fail(Mode.HANG)
        [content] = contents_for(user, 1)
        [job_id] = await post_writes(gateway_url, user, [content])

        async def write_arrived() -> bool:
            return bool(simulator.requests_to("POST", "/memories"))

        await eventually("the write to reach the Memory Bank", write_arrived, within=10)
        stack.postgres.stop()
        try:
            simulator.heal()  # stored in the Memory Bank while the outbox is unreachable
            await asyncio.sleep(2)
        finally:
            stack.postgres.start()
        # Without the mark retried, the job stays running until the sweeper runs it again
        # (job timeout + 10 s) and the Memory Bank gets the write a second time.
        final = await wait_until_finished(engine, [job_id], within=30)
    finally:
        worker.stop()

    assert final == Counter(succeeded=1)
    stored = [m for m in simulator.memories.values() if m["user_id"] == backend_user(user)]
    assert [m["memory"] for m in stored] == [content]


async def test_writes_outlasting_a_memory_bank_outage_are_dead_letters_until_replayed(
    engine: AsyncEngine,
    stack: TestStack,
    api: httpx.AsyncClient,
    gateway_url: str,
    admin: httpx.Client,
    user: GptUser,
    simulator: Mem0Simulator,
    mem0_memory_proxy: ServiceProcess,
    log_dir: Path,
) -> None:
    # Six attempts 0.1-1 s apart: 1.7-3.4 s of retries, well past the breaker's cooldown.
    environment = worker_environment(
        stack.environment(),
        mem0_memory_proxy.base_url,
        **FAST_WORKER,
        max_attempts="6",
        retry_backoff="200ms",
        retry_backoff_max="1s",
    )
    worker = start_worker(environment, log_dir, "worker-mem0")

    async def dead_letters_are(expected: int) -> bool:
        return await metric_value(worker, "cga_dead_letters") == expected

    try:
        simulator.fail(Mode.PROVIDER_ERROR)
        doomed_contents = contents_for(user, 8)
        doomed = await post_writes(gateway_url, user, doomed_contents)
        assert await wait_until_finished(engine, doomed, within=15) == Counter(failed=8)
        await eventually("8 dead letters on /metrics", lambda: dead_letters_are(8), within=5)

        retrying_contents = contents_for(user, 8)
        retrying = await post_writes(gateway_url, user, retrying_contents)

        async def all_retrying() -> bool:
            states = [await job_state(api, user, job_id) for job_id in retrying]
            return all(state["status"] == "queued" and state["attempts"] >= 1 for state in states)

        await eventually("every second write to have failed once", all_retrying, within=5)
        simulator.heal()
        assert await wait_until_finished(engine, retrying, within=15) == Counter(succeeded=8)

        for job_id in doomed:
            state = await job_state(api, user, job_id)
            assert (state["status"], state["attempts"], state["memory_id"]) == ("failed", 6, None)
            assert state["error"].startswith("memory_bank_unavailable: "), state

        # The operator's way: the CLI, over the admin API.
        replay = await asyncio.to_thread(
            subprocess.run,
            [
                executable("cga-admin"),
                "--admin-url",
                str(admin.base_url),
                "jobs",
                "replay",
                "--all-failed",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert replay.returncode == 0, replay.stderr
        assert json.loads(replay.stdout)["replayed"] == 8
        assert await wait_until_finished(engine, doomed, within=15) == Counter(succeeded=8)
        await eventually("no dead letters on /metrics", lambda: dead_letters_are(0), within=5)
    finally:
        worker.stop()

    stored = Counter(
        memory["memory"]
        for memory in list(simulator.memories.values())
        if memory["user_id"] == backend_user(user)
    )
    assert stored == Counter(doomed_contents + retrying_contents)


async def test_a_write_is_one_job_per_key_and_per_content_then_stored_and_found(
    engine: AsyncEngine,
    api: httpx.AsyncClient,
    user: GptUser,
    stranger: GptUser,
    worker_env: dict[str, str],
    log_dir: Path,
) -> None:
    async def write(body: dict[str, str]) -> dict[str, Any]:
        response = await api.post(WRITES, json=body, headers=user.headers)
        assert response.status_code == 202, response.text
        accepted: dict[str, Any] = response.json()
        return accepted

    composer = "Ada's favourite composer is Hildegard von Bingen"
    keyed = await write({"content": composer, "idempotency_key": "composer-1"})
    retried = await write({"content": "Ada's favourite is Bach", "idempotency_key": "composer-1"})
    tea = "Ada takes her tea with lemon"
    first_tea, second_tea = await write({"content": tea}), await write({"content": tea})
    assert retried["job_id"] == keyed["job_id"]
    assert second_tea["job_id"] == first_tea["job_id"]
    job_id = uuid.UUID(keyed["job_id"])
    queued = await job_state(api, user, job_id)
    assert (queued["status"], queued["attempts"], queued["memory_id"]) == ("queued", 0, None)
    foreign = await api.get(f"{WRITES}/jobs/{job_id}", headers=stranger.headers)
    assert foreign.status_code == 404
    assert foreign.json()["error"] == "job_not_found"

    worker = start_worker(worker_env, log_dir, "worker-idempotency")
    try:
        both = [job_id, uuid.UUID(first_tea["job_id"])]
        assert await wait_until_finished(engine, both, within=15) == Counter(succeeded=2)
    finally:
        worker.stop()

    succeeded = await job_state(api, user, job_id)
    assert succeeded["status"] == "succeeded"
    assert succeeded["memory_id"]
    assert succeeded["finished_at"]
    assert succeeded["error"] is None
    assert Counter(await stored_contents(engine, user)) == Counter([composer, tea])
    found = await api.post(
        f"{WRITES}/search", json={"query": "favourite composer"}, headers=user.headers
    )
    assert found.status_code == 200, found.text
    assert [memory["id"] for memory in found.json()["results"]] == [succeeded["memory_id"]]


async def test_worker_metrics_show_the_writes_done_an_empty_queue_and_the_dead_letters(
    engine: AsyncEngine,
    gateway_url: str,
    user: GptUser,
    worker_env: dict[str, str],
    log_dir: Path,
) -> None:
    worker = start_worker(worker_env, log_dir, "worker-metrics")
    try:
        job_ids = await post_writes(gateway_url, user, contents_for(user, 20))
        assert await wait_until_finished(engine, job_ids, within=15) == Counter(succeeded=20)

        async def queue_empty() -> bool:
            return await metric_value(worker, "cga_queue_depth") == 0

        await eventually("an empty queue on /metrics", queue_empty, within=5)
        succeeded = await metric_value(worker, "cga_jobs_total", outcome="succeeded")
        oldest = await metric_value(worker, "cga_queue_oldest_job_age_seconds")
        dead_letters = await metric_value(worker, "cga_dead_letters")
    finally:
        worker.stop()

    assert succeeded is not None
    assert succeeded >= 20
    assert oldest == 0
    assert dead_letters == await failed_jobs(engine) == 0
