from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Self

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from cga_core.config import Duration, ServiceSettings
from cga_core.internal import internal_token_field

# Results of a search kept longer would hide what other clients of the Memory Bank store.
MAX_SEARCH_CACHE_TTL = timedelta(minutes=10)


class BackendName(StrEnum):
    LOCAL = "local"
    MEM0 = "mem0"
    MEM0_PLATFORM = "mem0-platform"


class MemoryProxySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CGA_MEMORY_PROXY_")

    port: int = Field(8002, ge=1, le=65535, description="Port of the internal HTTP API.")
    internal_token: SecretStr = internal_token_field()
    backend: BackendName = Field(
        BackendName.LOCAL, description="Memory Bank backend: local, mem0 or mem0-platform."
    )
    mem0_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://mem0:8000"), description="Base URL of a self-hosted mem0 REST server."
    )
    mem0_api_key: SecretStr | None = Field(None, description="X-API-Key for the mem0 server.")
    mem0_infer: bool = Field(
        False, description="Let mem0 extract memories with its LLM instead of storing verbatim."
    )
    mem0_platform_url: AnyHttpUrl = Field(
        AnyHttpUrl("https://api.mem0.ai"), description="Base URL of mem0's hosted API."
    )
    mem0_platform_api_key: SecretStr | None = Field(None, description="mem0 platform API key.")
    search_threshold: float = Field(
        0.1, ge=0, le=1, description="mem0 drops matches scoring below this."
    )
    request_timeout: Duration = Field(
        timedelta(seconds=5), description="Time one call to the Memory Bank may take."
    )
    retry_attempts: int = Field(
        3, ge=1, le=10, description="Attempts per idempotent call (first try included)."
    )
    retry_backoff: Duration = Field(
        timedelta(milliseconds=100), description="First retry delay; doubles, with jitter."
    )
    retry_backoff_max: Duration = Field(
        timedelta(seconds=2), description="Longest delay between retries."
    )
    breaker_failure_threshold: int = Field(
        5, ge=1, description="Consecutive failures that open the circuit breaker."
    )
    breaker_cooldown: Duration = Field(
        timedelta(seconds=15), description="How long the breaker stays open before a trial call."
    )
    max_concurrency: int = Field(
        64, ge=1, description="Concurrent Memory Bank calls per process (bulkhead)."
    )
    concurrency_wait: Duration = Field(
        timedelta(seconds=1), description="How long a call waits for a free slot before 503."
    )
    http_pool_size: int = Field(100, ge=1, description="Connections kept to the Memory Bank.")
    search_cache_ttl: Duration = Field(
        timedelta(0),
        description=(
            "How long a search's results are kept in Redis and served again to the same search;"
            " 0 keeps none, 10m at most. A write or delete of the owner's memories clears them"
            " (decision 0014)."
        ),
    )

    @field_validator("search_cache_ttl")
    @classmethod
    def _bounded_cache_ttl(cls, ttl: timedelta) -> timedelta:
        if not timedelta(0) <= ttl <= MAX_SEARCH_CACHE_TTL:
            raise ValueError(f"must be between 0 and {MAX_SEARCH_CACHE_TTL.total_seconds():.0f}s")
        return ttl

    @model_validator(mode="after")
    def _backend_credentials(self) -> Self:
        needs = {
            BackendName.MEM0: ("mem0_api_key", self.mem0_api_key),
            BackendName.MEM0_PLATFORM: ("mem0_platform_api_key", self.mem0_platform_api_key),
        }
        if self.backend in needs:
            name, value = needs[self.backend]
            if value is None or not value.get_secret_value().strip():
                raise ValueError(
                    f"{self.variable_name(name)} must be set for backend {self.backend}"
                )
        return self
