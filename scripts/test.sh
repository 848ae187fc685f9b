#!/usr/bin/env bash
# Install everything and run the whole test suite: lint and types (scripts/lint.sh), then pytest on SQLite
# and PostgreSQL, real Celery workers on the SQLite broker and on Redis, the real PDFs, and the portal in
# Debian's Chromium (installed here when missing). PostgreSQL (127.0.0.1:5432, database `test`) and Redis
# (127.0.0.1:6379) are started here when they are installed but down; see README "Running the tests".
# Extra arguments go to pytest.
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

# PostgreSQL and Redis: the suite runs every database test on both SQLite and PostgreSQL, and the
# end-to-end tests on a Redis broker too. Start the local servers when installed but not running.
ensure_services() {
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && command -v redis-server >/dev/null; then
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/kb-service-tests.log || true
  fi
  local want_pg=1
  [[ ",${KB_TEST_DATABASES:-sqlite,postgresql}," == *,postgresql,* ]] || want_pg=0
  for _ in $(seq 1 30); do
    { [ "$want_pg" = 0 ] || pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; } &&
      redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && return 0
    sleep 1
  done
  cat >&2 <<MESSAGE
The suite needs PostgreSQL on 127.0.0.1:5432 (trust auth, database \`test\`) and Redis on 127.0.0.1:6379,
and they are not both answering. On Debian: sudo apt-get install -y postgresql redis-server, then run this
again (it starts them); KB_TEST_DATABASES=sqlite skips the PostgreSQL runs (Redis is still needed).
MESSAGE
  exit 1
}

ensure_chromium
ensure_services
if [ "${KB_SKIP_LINT:-0}" = 1 ]; then
  echo "KB_SKIP_LINT=1: skipping ruff and mypy" >&2
else
  scripts/lint.sh
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
