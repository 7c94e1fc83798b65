#!/usr/bin/env bash
# The local stack: private PostgreSQL and Redis under .dev/, migrations, then all four services
# in the foreground. Ctrl-C stops the services, then the databases.
set -euo pipefail
cd "$(dirname "$0")/../.."

export CGA_ENV="${CGA_ENV:-development}"
export CGA_DEV_DIR="${CGA_DEV_DIR:-.dev}"
export CGA_DEV_POSTGRES_PORT="${CGA_DEV_POSTGRES_PORT:-54329}"
export CGA_DEV_REDIS_PORT="${CGA_DEV_REDIS_PORT:-63790}"
export CGA_DATABASE_URL="${CGA_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:${CGA_DEV_POSTGRES_PORT}/cga}"
export CGA_REDIS_URL="${CGA_REDIS_URL:-redis://127.0.0.1:${CGA_DEV_REDIS_PORT}/0}"
export CGA_GATEWAY_PORT="${CGA_GATEWAY_PORT:-8000}"
export CGA_AUTH_PORT="${CGA_AUTH_PORT:-8001}"
export CGA_MEMORY_PROXY_PORT="${CGA_MEMORY_PROXY_PORT:-8002}"
export CGA_WORKER_PORT="${CGA_WORKER_PORT:-8003}"
export CGA_AUTH_ADMIN_PORT="${CGA_AUTH_ADMIN_PORT:-8011}"
export CGA_AUTH_PUBLIC_URL="${CGA_AUTH_PUBLIC_URL:-http://127.0.0.1:${CGA_AUTH_PORT}}"
export PATH="$PWD/.venv/bin:$PATH"

stop_databases() { cga-devstack down || true; }
trap stop_databases EXIT

cga-devstack up
cga-migrate upgrade head
cga-seed-demo

cat <<EOT

  gateway       http://127.0.0.1:${CGA_GATEWAY_PORT}   (Actions API)
  auth          http://127.0.0.1:${CGA_AUTH_PORT}   (OAuth server, login and consent)
  auth admin    http://127.0.0.1:${CGA_AUTH_ADMIN_PORT}   (admin API; use cga-admin)
  memory-proxy  http://127.0.0.1:${CGA_MEMORY_PROXY_PORT}   (internal)
  worker        http://127.0.0.1:${CGA_WORKER_PORT}   (health and metrics)
  Every service answers /livez, /readyz and /metrics. Ctrl-C stops everything.

EOT
# honcho stops every service when one exits or on Ctrl-C; the trap then stops the databases.
honcho --no-prefix start -f Procfile.dev || true
