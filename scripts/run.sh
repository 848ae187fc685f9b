#!/usr/bin/env bash
# Install everything and run kb-service on the embedded default: the API and a real Celery worker,
# SQLite state and broker, the embedded vector store and the bundled offline embedder, all under
# ./kb-data (or $KB_DATA_DIR). Extra arguments go to `kb-service serve` (e.g. --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/kb-service serve --data-dir "${KB_DATA_DIR:-./kb-data}" "$@"
