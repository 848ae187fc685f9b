#!/usr/bin/env bash
# Lint and type-check the way CI does: `ruff check .`, `ruff format --check .` and `mypy` (strict, on the
# files pyproject.toml names, tests included), all from .venv. Runs all three, fails if any finds anything.
set -uo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/ruff ] && [ -x .venv/bin/mypy ] || scripts/setup.sh || exit 1

status=0
.venv/bin/ruff check . || status=1
.venv/bin/ruff format --check . || status=1
.venv/bin/mypy || status=1
[ "$status" -eq 0 ] || echo "lint: failed (see above)" >&2
exit "$status"
