#!/usr/bin/env bash
# Create .venv and install kb-service with everything it needs (idempotent; fast when up to date).
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      python_bin="$candidate"; break
    fi
  done
fi
[ -n "$python_bin" ] || { echo "kb-service needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

[ -x .venv/bin/python ] || "$python_bin" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate

stamp=.venv/.kb-service-installed
wanted="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  python -m pip install --quiet --upgrade pip
  # torch first, pinned: an unpinned torch pulls a multi-GB CUDA build. Set TORCH_INDEX_URL to a
  # CPU-only wheel index if your machine has no CPU wheel of this version at hand.
  python -m pip install --quiet "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
  python -m pip install --quiet -e '.[dev]'
  echo "$wanted" > "$stamp"
fi
