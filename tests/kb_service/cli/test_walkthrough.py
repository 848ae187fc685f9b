"""The README's walk-through, run as written: its commands, in order, against what `kb-service serve`
runs (the API and a real worker) on a fresh data folder. The KB it creates lands in the company
`Local`, so the control plane (and so the portal) shows it to that company's admin."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kb_service.api import create_app
from kb_service.cli import main
from kb_service.client import KBClient
from kb_service.embedders.factory import EmbedderRegistry
from tests.kb_service.client.stack import PDFS, cli_environment, running_service

pytestmark = [pytest.mark.worker, pytest.mark.timeout(600)]

README = Path(__file__).resolve().parents[3] / "README.md"
SECTION = "## Walk-through"


def walkthrough_lines() -> list[str]:
    text = README.read_text("utf-8")
    section = text[text.index(SECTION) :]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, "the walk-through has no bash block"
    lines = []
    for raw in block.group(1).splitlines():
        line = raw.split(" # ")[0].strip() if not raw.lstrip().startswith("#") else ""
        if line and not line.startswith(". "):
            lines.append(line)
    return lines


def _expand(line: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$([A-Z_]+)", lambda m: variables.get(m.group(1), m.group(0)), line)


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(path)
        yield


def test_the_readme_walkthrough_works_as_written(tmp_path: Path, embedders: EmbedderRegistry) -> None:
    lines = walkthrough_lines()
    assert any(line.startswith("kb-service ingest") for line in lines)
    data_dir = tmp_path / "kb-data"  # the walk-through's ./kb-data, in the folder it runs from
    outputs: list[object] = []
    variables: dict[str, str] = {}
    printed_by: dict[str, str] = {}
    environment = cli_environment(tmp_path, data_dir)
    service_running = running_service(data_dir, tmp_path / "logs", embedders)
    with environment as env, service_running as service, _cwd(tmp_path):
        env.delenv("KB_DATA_DIR")  # the walk-through names the folder itself
        for line in lines:
            assignment = re.fullmatch(r"(KB|KEY)=\S+", line)
            if assignment:  # a value copied from the output above
                last = outputs[-1]
                assert isinstance(last, dict)
                variables[assignment.group(1)] = last[
                    "knowledge_base_id" if line.startswith("KB=") else "secret"
                ]
            elif line.startswith("export "):
                for name, value in (item.split("=", 1) for item in shlex.split(_expand(line, variables))[1:]):
                    env.setenv(name, value.replace("http://127.0.0.1:8000", service.url))
            elif "kb-service " in line:
                stdin, _, command = line.rpartition("| ")
                argv = shlex.split(_expand(command, variables))
                assert argv[0] == "kb-service"
                feed = shlex.split(stdin)[1] + "\n" if stdin else ""
                out = io.StringIO()
                with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
                    patch.setattr("sys.stdin", io.StringIO(feed))
                    code = main(argv[1:])
                assert code == 0, f"{line}\n{out.getvalue()}\n{service.mode.worker_log()}"
                printed = out.getvalue()
                printed_by[argv[1]] = printed
                outputs.append(json.loads(printed) if printed.lstrip().startswith(("{", "[")) else printed)
            else:  # preparing the files (mkdir, cp, echo)
                shell = line.replace("../shared/pdfs", str(PDFS))
                subprocess.run(["bash", "-c", shell], check=True, cwd=tmp_path)

        assert "3 indexed" in printed_by["ingest"]
        assert "30 days" in printed_by["search"]
        assert "returns.txt" in printed_by["documents"]
        admin = next(o for o in outputs if isinstance(o, dict) and "token" in o)
        assert data_dir.joinpath("state.sqlite3").exists()
        with KBClient(service.url, admin["token"]) as control:
            assert control.me().company_name == "Local"
            listed = {r.id: r.type for r in control.list_resources()}
            linked = control.resource_settings(variables["KB"]).embeddings_resource_id
        assert listed[variables["KB"]] == "knowledge_base"
        assert linked is not None and listed[linked] == "embeddings"

        # The portal shows it: signed in with the walk-through's email and password, the control
        # center lists the KB.
        password_line = next(line for line in lines if "--password-stdin" in line)
        password = shlex.split(password_line.partition("|")[0])[1]
        email = shlex.split(password_line)[shlex.split(password_line).index("--email") + 1]
        with TestClient(create_app(container=service.container)) as browser:
            page = browser.get("/portal/sign-in")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token is not None
            signed_in = browser.post(
                "/portal/sign-in",
                data={"email": email, "password": password, "csrf_token": token.group(1)},
                follow_redirects=True,
            )
            assert signed_in.status_code == 200
            center = browser.get("/portal")
            assert center.status_code == 200 and "Support" in center.text
