"""The remote commands against the live app with a real worker: `ingest` of a folder of the shared
PDFs and TXT files (progress, summary, exit code, re-runs skip unchanged files, failures with their
reason), `search`, `collections`, `documents`, profiles, and `--data-dir` / `--json` on either side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb_service.cli import main
from kb_service.client import KBClient
from tests.kb_service.client.stack import PDFS, Stack

pytestmark = [pytest.mark.worker, pytest.mark.timeout(600)]

# Small text PDFs of the shared set (one page, one page, four pages).
TEXT_PDFS = ["sf-002-trivial-libre-office-writer.pdf", "sf-crazyones-pdfa.pdf", "sf-pdflatex-4-pages.pdf"]
IMAGE_ONLY_PDF = "sf-imagemagick-CCITTFaxDecode.pdf"


def _folder(root: Path) -> Path:
    """A folder as people have them: PDFs (links to the shared files), TXT files in a subfolder, and
    files that are neither (skipped)."""
    folder = root / "docs"
    (folder / "notes").mkdir(parents=True)
    for name in TEXT_PDFS:
        (folder / name).symlink_to(PDFS / name)
    (folder / "notes" / "returns.txt").write_text("Returns are accepted within 30 days with the receipt.")
    (folder / "notes" / "shipping.TXT").write_text("Parcels ship from Rotterdam every weekday before noon.")
    (folder / "README.md").write_text("# not ingested")
    (folder / ".hidden.txt").write_text("not ingested either")
    return folder


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_ingest_a_folder_then_a_rerun_skips_what_is_unchanged(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path)
    connect = ["--kb", stack.kb_id, "--url", stack.url, "--key", stack.key]
    code, out, _ = _run(
        capsys, "ingest", str(folder), *connect, "--collection", "Manuals", "--metadata", "Source=cli",
        "--metadata", "Lang=en", "--wait", "--json",
    )  # fmt: skip
    summary = json.loads(out)
    assert code == 0, summary
    assert (summary["indexed"], summary["failed"], summary["unchanged"]) == (5, 0, 0)
    names = sorted(Path(f["path"]).name for f in summary["files"])
    assert names == sorted([*TEXT_PDFS, "returns.txt", "shipping.TXT"])
    assert all(f["status"] == "indexed" and f["chunks"] and f["document_id"] for f in summary["files"])
    with KBClient(stack.url, stack.key) as kb:
        listed = kb.list_documents(stack.kb_id, collection="Manuals")
        assert listed.total == 5
        assert all(d.metadata == {"Source": "cli", "Lang": "en"} for d in listed.items)

    # The same folder again: nothing is uploaded twice; the summary (a table for people) says so.
    (folder / "notes" / "returns.txt").write_text("Returns are accepted within 60 days with the receipt.")
    code, out, _ = _run(
        capsys, "ingest", str(folder), *connect, "--collection", "Manuals", "--metadata", "Source=cli",
        "--metadata", "Lang=en", "--wait",
    )  # fmt: skip
    assert code == 0, out
    assert "4 unchanged" in out and "1 indexed" in out
    assert "returns.txt" in out and "unchanged" in out
    with KBClient(stack.url, stack.key) as kb:
        documents = kb.list_documents(stack.kb_id, collection="Manuals")
    # The changed file replaced its earlier version; the others are the same documents as before.
    assert documents.total == 5
    assert {d.id for d in documents.items} >= {
        f["document_id"] for f in summary["files"] if "returns" not in f["path"]
    }


def test_a_file_that_fails_is_in_the_summary_with_its_reason_and_the_exit_code(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / IMAGE_ONLY_PDF).symlink_to(PDFS / IMAGE_ONLY_PDF)
    (folder / "ok.txt").write_text("Opening hours are nine to five.")
    (folder / "empty.txt").write_text("")
    code, out, _ = _run(
        capsys, "ingest", str(folder), str(tmp_path / "missing.pdf"), "--kb", stack.kb_id, "--url", stack.url,
        "--key", stack.key, "--collection", "Mixed", "--wait", "--json",
    )  # fmt: skip
    assert code == 1
    summary = json.loads(out)
    by_name = {Path(f["path"]).name: f for f in summary["files"]}
    assert by_name["ok.txt"]["status"] == "indexed"
    for name in (IMAGE_ONLY_PDF, "empty.txt", "missing.pdf"):
        assert by_name[name]["status"] == "failed" and by_name[name]["reason"], by_name[name]
    assert "text" in by_name[IMAGE_ONLY_PDF]["reason"].lower()
    assert by_name["missing.pdf"]["reason"] == "no such file or folder"
    assert summary["failed"] == 3

    # For people: the same reasons, in the table.
    code, out, _ = _run(capsys, "ingest", str(folder), "--kb", stack.kb_id, "--url", stack.url,
                        "--key", stack.key, "--collection", "Mixed", "--wait")  # fmt: skip
    assert code == 1
    assert IMAGE_ONLY_PDF in out and "failed" in out


def test_search_collections_and_documents(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    notes = tmp_path / "faq.txt"
    notes.write_text("To reset your password, open Settings and choose Reset password.")
    monkeypatch.setenv("KB_URL", stack.url)
    monkeypatch.setenv("KB_API_KEY", stack.key)
    code, out, _ = _run(
        capsys, "ingest", str(notes), "--kb", stack.kb_id, "--collection", "FAQ", "--metadata", "Type=How-to",
        "--wait", "--json",
    )  # fmt: skip
    assert code == 0, out
    document_id = json.loads(out)["files"][0]["document_id"]

    # --json after the command, as before it.
    code, out, _ = _run(
        capsys, "search", "how do I reset my password?", "--kb", stack.kb_id, "--mode", "hybrid",
        "--max-results", "2", "--collection", "FAQ", "--filter", '{"key": "Type", "eq": "How-to"}', "--json",
    )  # fmt: skip
    assert code == 0
    found = json.loads(out)
    assert found["mode"] == "hybrid" and found["results"][0]["document_id"] == document_id
    code, out, _ = _run(capsys, "--json", "search", "password", "--kb", stack.kb_id, "--mode", "keyword",
                        "--filter", '{"key": "Type", "eq": "Other"}')  # fmt: skip
    assert code == 0 and json.loads(out)["results"] == []

    code, out, _ = _run(capsys, "search", "reset my password", "--kb", stack.kb_id, "--collection", "FAQ")
    assert code == 0 and "Reset password" in out and "FAQ" in out

    code, out, _ = _run(capsys, "collections", "--kb", stack.kb_id, "--json")
    assert code == 0
    faq = next(c for c in json.loads(out) if c["name"] == "FAQ")
    assert faq["document_count"] == 1
    code, out, _ = _run(capsys, "documents", "--kb", stack.kb_id, "--collection", "FAQ")
    assert code == 0 and "faq.txt" in out and "indexed" in out

    code, _, err = _run(capsys, "search", "x", "--kb", stack.kb_id, "--max-results", "1000")
    assert code == 2
    assert json.loads(err.strip().splitlines()[-1])["error"]["code"] == "invalid_input"
    code, _, err = _run(capsys, "search", "x", "--kb", stack.kb_id, "--key", "kb_wrong_key")
    assert code == 2 and json.loads(err.strip().splitlines()[-1])["error"]["status"] == 401


def test_a_profile_supplies_the_connection(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "kb-service" / "config.toml"
    monkeypatch.setenv("KB_CLI_CONFIG", str(config))
    code, _, _ = _run(
        capsys, "profile", "add", "local", "--url", stack.url, "--key", stack.key, "--kb", stack.kb_id
    )
    assert code == 0
    assert config.stat().st_mode & 0o777 == 0o600
    code, out, _ = _run(capsys, "profile", "list", "--json")
    assert code == 0
    listed = json.loads(out)
    assert [(p["name"], p["url"], p["kb"]) for p in listed] == [("local", stack.url, stack.kb_id)]
    assert stack.key not in out  # keys are masked
    code, out, _ = _run(capsys, "collections", "--profile", "local", "--json")
    assert code == 0 and "default" in {c["name"] for c in json.loads(out)}
    code, _, err = _run(capsys, "collections", "--profile", "nope")
    assert code == 2 and "No profile 'nope'" in err


def test_data_dir_before_and_after_the_command(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KB_DATA_DIR", raising=False)
    after = _run(capsys, "kb", "list", "--data-dir", str(stack.data_dir))
    before = _run(capsys, "--data-dir", str(stack.data_dir), "kb", "list")
    assert after[0] == before[0] == 0
    assert json.loads(after[1]) == json.loads(before[1])
    assert stack.kb_id in {kb["knowledge_base_id"] for kb in json.loads(after[1])}


def test_mcp_refuses_a_key_that_does_not_reach_the_kb(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KB_API_KEY", raising=False)
    code, _, err = _run(capsys, "mcp", "--kb", stack.kb_id, "--data-dir", str(stack.data_dir))
    assert code == 2 and "--key" in err
    code, _, err = _run(
        capsys, "mcp", "--kb", stack.kb_id, "--key", "kb_wrong_key", "--data-dir", str(stack.data_dir)
    )
    assert code == 2 and json.loads(err.strip().splitlines()[-1])["error"]["code"] == "unauthorized"
