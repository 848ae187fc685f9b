"""Structured logs (JSON by default). Events carry ids and counts — never chunk text, prompts,
queries or secrets."""

from __future__ import annotations

import logging
import sys
from typing import TextIO, cast

import structlog

from kb_service.config import Settings


class _CurrentStderr:
    """Writes to whatever sys.stderr is at the time (test runners swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelName(settings.log_level.upper())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if settings.log_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.dict_tracebacks,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(cast(TextIO, _CurrentStderr())),
        # Not cached: tests (structlog.testing.capture_logs) and reconfiguration must take effect.
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    # Third-party loggers that would otherwise log request bodies or be noisy.
    for name in ("httpx", "httpcore", "httpx2", "httpcore2", "opensearch", "urllib3", "pypdf"):
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
