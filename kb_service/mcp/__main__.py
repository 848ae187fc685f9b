"""`python -m kb_service.mcp --kb ID --key KEY [--data-dir DIR]`: the MCP server over stdio, without
the CLI (`kb-service mcp` calls the same `run_stdio`). The key may come from `KB_API_KEY` instead."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kb_service.config import Settings
from kb_service.errors import KBError
from kb_service.mcp.stdio import run_stdio
from kb_service.observability import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kb_service.mcp", description=__doc__)
    parser.add_argument("--kb", required=True, help="The knowledge base id.")
    parser.add_argument("--key", default=os.environ.get("KB_API_KEY"), help="Its API key (or KB_API_KEY).")
    parser.add_argument("--data-dir", type=Path, help="The data folder (KB_DATA_DIR; default ./kb-data).")
    args = parser.parse_args(argv)
    if not args.key:
        parser.error("give --key or set KB_API_KEY")
    settings = Settings(data_dir=args.data_dir) if args.data_dir else Settings()
    configure_logging(settings)
    try:
        run_stdio(settings, kb_id=args.kb, key=args.key)
    except KBError as exc:
        sys.stderr.write(f"kb-service mcp: {exc.code}: {exc.message}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
