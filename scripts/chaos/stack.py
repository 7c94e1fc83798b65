"""The system the faults are injected into: private PostgreSQL and Redis, a mem0 Memory Bank
simulated on a loopback port, and the four services as real processes — with the levers a
fault pulls (kill the worker, stop Redis, fail the Memory Bank, restart PostgreSQL).

memory-proxy uses the ``mem0`` backend so the Memory Bank can be made to fail. It is also the
stricter test of exactly-once: unlike the ``local`` backend, mem0 does not enforce the write's
idempotency key, so nothing downstream of the outbox hides a job written twice."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from cga_core.queue import write_job_id
from cga_memory_proxy.backends.mem0 import IDEMPOTENCY_METADATA_KEY
from scripts.load.stack import Targets, private_servers, start_services, stop_services, targets_of
from tests.memory_proxy.mem0_simulator import Mem0Simulator, Mode, running_simulator
from tests.support.env import TestStack
from tests.support.processes import ServiceProcess
from tests.support.writes import start_worker, worker_environment

MEMORY_BANK_API_KEY = "m0-chaos-key"


@dataclass
class ChaosStack:
    servers: TestStack
    memory_bank: Mem0Simulator
    environment: dict[str, str]
    services: dict[str, ServiceProcess]
    log_dir: Path
    worker_starts: int = 1

    @property
    def targets(self) -> Targets:
        return targets_of(self.services)

    def readiness_urls(self) -> dict[str, str]:
        """Each service's ``/readyz``; the worker's moves when it is restarted."""
        return {name: service.base_url + "/readyz" for name, service in self.services.items()}

    def kill_worker(self) -> None:
        """SIGKILL: its running jobs are cut off wherever they are."""
        worker = self.services["worker"]
        worker.process.kill()
        worker.process.wait()

    def restart_worker(self) -> None:
        self.worker_starts += 1
        self.services["worker"] = start_worker(
            worker_environment(self.environment, self.services["memory-proxy"].base_url),
            self.log_dir,
            f"worker-{self.worker_starts}",
        )

    def stop_redis(self) -> None:
        self.servers.redis.stop()

    def start_redis(self) -> None:
        self.servers.redis.start()

    def fail_memory_bank(self) -> None:
        """mem0's provider failure (502), answered at once to every call."""
        self.memory_bank.fail(Mode.PROVIDER_ERROR)

    def heal_memory_bank(self) -> None:
        self.memory_bank.heal()

    def stop_postgres(self) -> None:
        self.servers.postgres.stop()

    def start_postgres(self) -> None:
        self.servers.postgres.start()

    def stored_per_job(self, job_ids: Iterable[str]) -> dict[str, int]:
        """How many memories the Memory Bank holds for each job, by the idempotency key the
        worker sent with its write."""
        keys = Counter(
            memory["metadata"].get(IDEMPOTENCY_METADATA_KEY)
            for memory in list(self.memory_bank.memories.values())
        )
        return {job: keys[write_job_id(uuid.UUID(job))] for job in job_ids}


@contextmanager
def chaos_stack(log_dir: Path) -> Iterator[ChaosStack]:
    with ExitStack() as cleanup:
        servers = cleanup.enter_context(private_servers())
        memory_bank = cleanup.enter_context(running_simulator(MEMORY_BANK_API_KEY))
        environment = {
            **servers.environment(),
            "CGA_MEMORY_PROXY_BACKEND": "mem0",
            "CGA_MEMORY_PROXY_MEM0_URL": memory_bank.url,
            "CGA_MEMORY_PROXY_MEM0_API_KEY": MEMORY_BANK_API_KEY,
        }
        services = start_services(environment, log_dir)
        cleanup.callback(stop_services, services)
        yield ChaosStack(servers, memory_bank, environment, services, log_dir)
