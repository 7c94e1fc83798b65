"""Saving memories: accepted durably at once (202), written by the worker.

The job row (the outbox) commits before the job is enqueued, so an accepted write is never
lost: if Redis is down or loses the job, the worker's sweeper finds the row and enqueues it."""

import uuid
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Path, Request
from opentelemetry.propagate import inject
from redis.exceptions import RedisError

from cga_core.db import session_scope
from cga_core.errors import ErrorBody, NotFound
from cga_core.jobs import AcceptedJob, MemoryJobRepository
from cga_core.queue import enqueue_write
from cga_gateway.admission import admitted
from cga_gateway.memories import ERRORS, READ, UNREADABLE_BODY, WRITE
from cga_gateway.schemas import JobAccepted, JobState, NewMemoryRequest
from cga_gateway.security import requires
from cga_gateway.settings import GatewaySettings
from cga_gateway.tokens import Principal

logger = structlog.get_logger("cga.gateway.writes")


class JobNotFound(NotFound):
    error = "job_not_found"
    default_detail = "No write with this id."


def _traceparent() -> str | None:
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent")


def router_for(settings: GatewaySettings, scheme: Any) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["memories"], responses=ERRORS)
    writer = Depends(requires(WRITE, scheme))
    reader = Depends(requires(READ, scheme))
    base_url = str(settings.public_url).rstrip("/")

    def accepted(job: AcceptedJob) -> JobAccepted:
        return JobAccepted(
            job_id=str(job.id),
            status=job.status,
            status_url=f"{base_url}/api/v1/memories/jobs/{job.id}",
        )

    @router.post(
        "/memories",
        status_code=202,
        operation_id="createMemory",
        summary="Save a new memory for the user",
        description=(
            "Save something the user asked you to remember. It is stored within seconds;"
            " the answer gives a job id to check. Save each fact once."
        ),
        responses=UNREADABLE_BODY,
        openapi_extra={"x-openai-isConsequential": True},
    )
    async def create_memory(
        body: NewMemoryRequest, request: Request, caller: Annotated[Principal, writer]
    ) -> JobAccepted:
        async with admitted(request, settings, "memories.create", caller, write=True):
            async with session_scope(request.state.core.sessionmaker) as session:
                job, created = await MemoryJobRepository(session).accept(
                    owner=caller.sub,
                    client_id=caller.client_id,
                    content=body.content,
                    metadata=body.metadata,
                    idempotency_key=body.idempotency_key,
                    duplicate_window=settings.duplicate_write_window,
                    request_id=request.scope.get("state", {}).get("request_id"),
                    traceparent=_traceparent(),
                )
            if created:
                try:
                    await enqueue_write(request.state.core.redis, job.id)
                except (RedisError, OSError) as exc:
                    # Accepted all the same: the sweeper enqueues jobs Redis never got.
                    logger.warning("gateway.write.enqueue_deferred", reason=type(exc).__name__)
        return accepted(job)

    @router.get(
        "/memories/jobs/{job_id}",
        operation_id="getMemoryJob",
        summary="Check whether a memory was saved",
        description="Read the status of a save started with createMemory, by its job id.",
        responses={404: {"model": ErrorBody, "description": "No such write for this user."}},
    )
    async def memory_job(
        job_id: Annotated[uuid.UUID, Path(description="The job_id createMemory returned.")],
        request: Request,
        caller: Annotated[Principal, reader],
    ) -> JobState:
        async with (
            admitted(request, settings, "memories.job", caller),
            session_scope(request.state.core.sessionmaker) as session,
        ):
            job = await MemoryJobRepository(session).of_owner(job_id, caller.sub)
        if job is None:
            raise JobNotFound
        return JobState(
            job_id=str(job.id),
            status=job.status,
            attempts=job.attempts,
            memory_id=job.memory_id,
            error=job.last_error,
            created_at=job.created_at,
            finished_at=job.finished_at,
        )

    return router
