"""The admin API (admin port only): apps and users. ``cga-admin`` is its client."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from cga_auth.admin.auth import require_admin
from cga_auth.apps.repository import AppRepository
from cga_auth.apps.schemas import AppCreate, AppOut, AppUpdate, AppWithSecret, SecretRotation
from cga_auth.apps.service import AppService, describe
from cga_auth.state import Audit, Auth, OAuth
from cga_auth.users.repository import UserRepository
from cga_auth.users.schemas import PasswordReset, UserCreate, UserOut, UserWithPassword
from cga_auth.users.service import UserService
from cga_core.app import DbSession
from cga_core.errors import ErrorBody
from cga_core.models import Status

router = APIRouter(
    prefix="/admin/v1",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses={401: {"model": ErrorBody}, 404: {"model": ErrorBody}},
)


def get_app_service(auth: Auth, session: DbSession, oauth: OAuth, audit: Audit) -> AppService:
    return AppService(auth.settings, AppRepository(session), oauth, audit)


def get_user_service(auth: Auth, session: DbSession, oauth: OAuth, audit: Audit) -> UserService:
    return UserService(auth.settings, UserRepository(session), oauth, audit)


Apps = Annotated[AppService, Depends(get_app_service)]
Users = Annotated[UserService, Depends(get_user_service)]


@router.post("/apps", status_code=201)
async def create_app(data: AppCreate, apps: Apps) -> AppWithSecret:
    return await apps.create(data)


@router.get("/apps")
async def list_apps(apps: Apps) -> list[AppOut]:
    return await apps.list()


@router.get("/apps/{client_id}")
async def show_app(client_id: str, apps: Apps) -> AppOut:
    return describe(await apps.get(client_id))


@router.patch("/apps/{client_id}")
async def update_app(client_id: str, data: AppUpdate, apps: Apps) -> AppOut:
    return await apps.update(client_id, data)


@router.post("/apps/{client_id}/rotate-secret")
async def rotate_secret(client_id: str, data: SecretRotation, apps: Apps) -> AppWithSecret:
    overlap = timedelta(seconds=data.overlap_seconds) if data.overlap_seconds is not None else None
    return await apps.rotate_secret(client_id, overlap)


@router.post("/apps/{client_id}/disable")
async def disable_app(client_id: str, apps: Apps) -> AppOut:
    return await apps.set_status(client_id, Status.DISABLED)


@router.post("/apps/{client_id}/enable")
async def enable_app(client_id: str, apps: Apps) -> AppOut:
    return await apps.set_status(client_id, Status.ACTIVE)


@router.delete("/apps/{client_id}", status_code=204)
async def delete_app(client_id: str, apps: Apps) -> Response:
    await apps.delete(client_id)
    return Response(status_code=204)


@router.post("/users", status_code=201)
async def create_user(data: UserCreate, users: Users) -> UserWithPassword:
    return await users.create(data)


@router.get("/users")
async def list_users(users: Users) -> list[UserOut]:
    return await users.list()


@router.post("/users/{email_or_id}/disable")
async def disable_user(email_or_id: str, users: Users) -> UserOut:
    return await users.disable(email_or_id)


@router.post("/users/{email_or_id}/reset-password")
async def reset_password(email_or_id: str, data: PasswordReset, users: Users) -> UserWithPassword:
    return await users.reset_password(email_or_id, data.password)
