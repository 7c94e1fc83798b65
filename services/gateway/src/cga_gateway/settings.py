from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from cga_core.config import ServiceSettings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CGA_GATEWAY_")

    port: int = Field(8000, ge=1, le=65535, description="Port of the HTTP server.")
