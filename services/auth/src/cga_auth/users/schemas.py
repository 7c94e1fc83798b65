from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from cga_core.models import Status


def _email(value: str) -> str:
    value = value.strip().lower()
    local, _, domain = value.partition("@")
    if not local or "." not in domain or " " in value:
        raise ValueError("must be an email address")
    return value


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, Field(min_length=3, max_length=320), AfterValidator(_email)]
    password: str | None = Field(None, max_length=1024, description="Generated when omitted.")


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(None, max_length=1024, description="Generated when omitted.")


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    status: Status
    created_at: datetime
    last_login_at: datetime | None


class UserWithPassword(BaseModel):
    user: UserOut
    password: str | None = Field(None, description="Only when the server generated it; shown once.")
