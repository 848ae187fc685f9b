"""`python -m kb_service.cli` (how the tests and `serve`'s worker start the CLI)."""

from kb_service.cli import main

raise SystemExit(main())
