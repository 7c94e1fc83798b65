# One image for every service; the Deployment picks the command (cga-gateway, cga-auth,
# cga-memory-proxy, cga-worker, cga-migrate, cga-admin).
FROM python:3.11.11-slim-bookworm AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
COPY pyproject.toml uv.lock ./
COPY libs libs
COPY services services
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11.11-slim-bookworm
# Kubernetes probes check health (/livez, /readyz); an image HEALTHCHECK would be ignored.
# checkov:skip=CKV_DOCKER_2: health is checked by the Deployment's probes
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin cga
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CGA_GATEWAY_HOST=0.0.0.0 \
    CGA_AUTH_HOST=0.0.0.0 \
    CGA_MEMORY_PROXY_HOST=0.0.0.0 \
    CGA_WORKER_HOST=0.0.0.0
USER 10001:10001
EXPOSE 8000 8001 8002 8003
CMD ["cga-gateway"]
