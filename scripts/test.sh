#!/usr/bin/env bash
# Install everything and run the whole test suite: lint and types (scripts/lint.sh), then pytest on SQLite
# and PostgreSQL, real Celery workers on the SQLite broker and on Redis, the real PDFs, and the portal in
# Debian's Chromium (installed here when missing). PostgreSQL (127.0.0.1:5432, database `test`) and Redis
# (127.0.0.1:6379) must be running; see README "Running the tests". Extra arguments go to pytest.
# KB_SKIP_LINT=1 skips the lint step for a quick local run (CI always lints).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

CHROMIUM=/usr/bin/chromium

chromium_missing() {
  cat >&2 <<MESSAGE
The portal's browser tests drive Debian's Chromium at $CHROMIUM, which is not installed and could not be
installed automatically ($1). Install it yourself, then run this again:

    sudo apt-get update && sudo apt-get install -y chromium

(Playwright's own browser download is not used: \`playwright install\` is not needed and not wanted.)
MESSAGE
  exit 1
}

ensure_chromium() {
  [ -x "$CHROMIUM" ] && return 0
  command -v apt-get >/dev/null || chromium_missing "no apt-get on this machine"
  local as_root=(env DEBIAN_FRONTEND=noninteractive)
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || chromium_missing "not root and no sudo"
    as_root=(sudo env DEBIAN_FRONTEND=noninteractive)
  fi
  echo "Installing Debian's chromium for the browser tests ($CHROMIUM is missing)..." >&2
  "${as_root[@]}" apt-get update -qq || chromium_missing "apt-get update failed"
  "${as_root[@]}" apt-get install -y -qq chromium || chromium_missing "apt-get install chromium failed"
  [ -x "$CHROMIUM" ] || chromium_missing "the chromium package did not provide $CHROMIUM"
}

ensure_chromium
if [ "${KB_SKIP_LINT:-0}" = 1 ]; then
  echo "KB_SKIP_LINT=1: skipping ruff and mypy" >&2
else
  scripts/lint.sh
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
