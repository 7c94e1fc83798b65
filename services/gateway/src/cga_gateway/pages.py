"""Human-facing pages: API docs (Swagger UI, ReDoc) served from local files, no CDN, and the
privacy policy a public GPT must link to."""

from __future__ import annotations

import html
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from cga_gateway.settings import GatewaySettings

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/docs-assets"


def install_pages(app: FastAPI, settings: GatewaySettings) -> None:
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Memory Bank API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        )

    @router.get("/redoc")
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title="Memory Bank API",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )

    @router.get("/privacy")
    async def privacy() -> HTMLResponse:
        paragraphs = "".join(
            f"<p>{html.escape(part.strip())}</p>"
            for part in settings.privacy_policy.split("\n\n")
            if part.strip()
        )
        contact = (
            f"<p>Contact: {html.escape(settings.privacy_contact)}</p>"
            if settings.privacy_contact
            else ""
        )
        return HTMLResponse(
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<title>Privacy policy</title></head>"
            "<body style='font:16px/1.6 system-ui,sans-serif;max-width:40rem;margin:2rem auto;"
            f"padding:0 1rem'><h1>Privacy policy</h1>{paragraphs}{contact}</body></html>"
        )

    app.include_router(router)
