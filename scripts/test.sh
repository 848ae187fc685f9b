#!/usr/bin/env bash
# Install everything and run the whole test suite: SQLite and PostgreSQL, real Celery workers on the
# SQLite broker and on Redis, the real PDFs. PostgreSQL (127.0.0.1:5432, database `test`) and Redis
# (127.0.0.1:6379) must be running; see README "Running the tests".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
