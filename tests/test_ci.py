"""CI runs exactly what a newcomer runs: the README's test command, verbatim, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _readme_test_command() -> str:
    setup = (REPO / "README.md").read_text("utf-8").split("## Set-up: two commands", 1)[1]
    block = re.search(r"```bash\n(.*?)```", setup, re.S)
    assert block is not None, "README's set-up section has no bash block"
    lines = block.group(1).splitlines()
    tests = [line for line in lines if "test" in line.split("#", 1)[0]]
    assert len(tests) == 1, lines
    return tests[0]


def test_ci_runs_the_readme_test_command_and_nothing_else() -> None:
    lines = (REPO / ".ci" / "run").read_text("utf-8").splitlines()
    commands = [line for line in lines if line.strip() and not line.startswith("#")]
    # Strict bash and the repository root; then the README's line, byte for byte, alone.
    assert commands == ["set -euo pipefail", 'cd "$(dirname "$0")/.."', _readme_test_command()]
