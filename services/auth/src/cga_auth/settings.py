from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from cga_core.config import ServiceSettings


class AuthSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CGA_AUTH_")

    port: int = Field(8001, ge=1, le=65535, description="Port of the HTTP server.")
