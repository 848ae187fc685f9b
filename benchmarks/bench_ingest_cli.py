"""`kb-service ingest` of a folder against the same files posted one by one with plain HTTP requests
(what a `curl` loop does), then polled: wall time until every file is `indexed`.

Both run against the same `kb-service serve` (the API and a real worker on the embedded default) in
one run, each into a collection of its own (so the server's unchanged-file check does not kick in),
in the order baseline, CLI, CLI, baseline over two rounds so a drift in machine load weighs on both.
The CLI is timed as a user sees it: the `kb-service ingest ... --wait` process from start to exit,
its own start-up included. The figure is baseline / CLI (target: >= 0.95, no overhead beyond the
pipeline).

    python benchmarks/bench_ingest_cli.py --txt 16 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from benchmarks.corpus import make_chunks

# The shared PDFs beside the checkout (../shared/pdfs), or KB_TEST_PDF_DIR.
PDFS = Path(os.environ.get("KB_TEST_PDF_DIR", Path(__file__).resolve().parents[2] / "shared" / "pdfs"))
# Text PDFs of the shared set, small to mid-sized (1 to 19 pages).
PDF_NAMES = [
    "sf-002-trivial-libre-office-writer.pdf",
    "sf-crazyones-pdfa.pdf",
    "sf-pdflatex-4-pages.pdf",
    "sf-multicolumn.pdf",
    "sf-pdflatex-outline.pdf",
    "pypdf-GeoBase_NHNC1_Data_Model_UML_EN.pdf",
]
POLL_S = 0.5
CLI = [sys.executable, "-m", "kb_service.cli"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--txt", type=int, default=16, help="TXT files besides the PDFs")
    parser.add_argument("--paragraphs", type=int, default=12, help="paragraphs per TXT file")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kb-bench-ingest-") as tmp:
        root = Path(tmp)
        folder = make_folder(root / "docs", args.txt, args.paragraphs)
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        port = free_port()
        env = {
            **os.environ,
            "KB_DATA_DIR": str(root / "data"),
            "KB_QUEUE_PREFIX": f"bench{uuid.uuid4().hex[:6]}",
            "KB_LOG_JSON": "false",
            "KB_CLI_CONFIG": str(root / "config.toml"),
        }
        kb_id, key = create_kb(env)
        url = f"http://127.0.0.1:{port}"
        server = start_serve(env, port, root / "serve.log")
        try:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as http:
                warm_up(http, kb_id)
                runs: dict[str, list[float]] = {"baseline": [], "cli": []}
                chunks: dict[str, int] = {}
                order = ["baseline", "cli"]
                for round_ in range(args.rounds):
                    for variant in order if round_ % 2 == 0 else list(reversed(order)):
                        collection = f"{variant}-{round_}"
                        if variant == "baseline":
                            seconds, total = run_baseline(http, kb_id, files, collection)
                        else:
                            seconds, total = run_cli(env, url, key, kb_id, folder, collection)
                        runs[variant].append(seconds)
                        chunks[variant] = total
                        print(f"round {round_} {variant:>8}: {seconds:7.2f} s, {total} chunks", flush=True)
        finally:
            stop(server)

    baseline_s = statistics.median(runs["baseline"])
    cli_s = statistics.median(runs["cli"])
    ratio = baseline_s / cli_s
    assert chunks["baseline"] == chunks["cli"], f"the two paths made different chunks: {chunks}"
    print(f"files: {len(files)} ({len(PDF_NAMES)} PDF, {args.txt} TXT), chunks per run: {chunks['cli']}")
    print(f"baseline (one request per file, then polling): median {baseline_s:.2f} s  {runs['baseline']}")
    print(f"kb-service ingest --wait:                      median {cli_s:.2f} s  {runs['cli']}")
    print(f"baseline / CLI: {ratio:.3f}  (target >= 0.95)")
    print(
        json.dumps(
            {
                "benchmark": "ingest_cli",
                "files": len(files),
                "chunks": chunks["cli"],
                "rounds": args.rounds,
                "baseline_s": round(baseline_s, 3),
                "cli_s": round(cli_s, 3),
                "baseline_runs_s": [round(s, 3) for s in runs["baseline"]],
                "cli_runs_s": [round(s, 3) for s in runs["cli"]],
                "ratio": round(ratio, 3),
                "target": 0.95,
                "ok": ratio >= 0.95,
            }
        )
    )


def make_folder(folder: Path, txt_files: int, paragraphs: int) -> Path:
    (folder / "notes").mkdir(parents=True)
    for name in PDF_NAMES:
        (folder / name).symlink_to(PDFS / name)  # read from the shared set, never copied
    for index in range(txt_files):
        text = "\n\n".join(make_chunks(paragraphs, words=120, seed=1000 + index))
        (folder / "notes" / f"note-{index:03d}.txt").write_text(text)
    return folder


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def create_kb(env: dict[str, str]) -> tuple[str, str]:
    def cli(*argv: str) -> Any:
        return json.loads(
            subprocess.run([*CLI, *argv], env=env, check=True, capture_output=True, text=True).stdout
        )

    created = cli("kb", "create", "--name", "Bench")
    key = cli("key", "create", "--resource", created["knowledge_base_id"])
    return str(created["knowledge_base_id"]), str(key["secret"])


def start_serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*CLI, "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 180
    while True:
        try:
            ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            ready = False
        if ready and "ready." in log.read_text(errors="replace"):  # the worker's "ready." line
            return process
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"serve did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.5)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(90)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def warm_up(http: httpx.Client, kb_id: str) -> None:
    """One document end to end first, so both variants find the worker's model loaded."""
    posted = http.post(
        f"/v1/knowledge-bases/{kb_id}/documents",
        files={"file": ("warm-up.txt", b"Warming up the worker and its model.", "text/plain")},
        data={"collection": "warm-up"},
    )
    posted.raise_for_status()
    poll_until_done(http, kb_id, [posted.json()["id"]])


def run_baseline(http: httpx.Client, kb_id: str, files: list[Path], collection: str) -> tuple[float, int]:
    """What a curl loop does: one POST per file, then a GET per unfinished document every POLL_S."""
    started = time.perf_counter()
    ids = []
    for path in files:
        kind = "application/pdf" if path.suffix == ".pdf" else "text/plain"
        posted = http.post(
            f"/v1/knowledge-bases/{kb_id}/documents",
            files={"file": (path.name, path.read_bytes(), kind)},
            data={"collection": collection},
        )
        posted.raise_for_status()
        ids.append(posted.json()["id"])
    documents = poll_until_done(http, kb_id, ids)
    seconds = time.perf_counter() - started
    failed = [d for d in documents if d["status"] != "indexed"]
    assert not failed, f"baseline: documents failed: {failed}"
    return seconds, sum(d["chunk_count"] for d in documents)


def poll_until_done(http: httpx.Client, kb_id: str, ids: list[str]) -> list[dict[str, Any]]:
    pending, done = list(ids), []
    while pending:
        for document_id in list(pending):
            document = http.get(f"/v1/knowledge-bases/{kb_id}/documents/{document_id}").json()
            if document["status"] in ("indexed", "failed"):
                pending.remove(document_id)
                done.append(document)
        if pending:
            time.sleep(POLL_S)
    return done


def run_cli(
    env: dict[str, str], url: str, key: str, kb_id: str, folder: Path, collection: str
) -> tuple[float, int]:
    command = [*CLI, "ingest", str(folder), "--kb", kb_id, "--collection", collection, "--wait", "--json"]
    command += ["--url", url, "--key", key, "--poll", str(POLL_S)]
    started = time.perf_counter()
    finished = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    assert finished.returncode == 0, finished.stdout + finished.stderr[-3000:]
    summary = json.loads(finished.stdout)
    return seconds, sum(f["chunks"] or 0 for f in summary["files"])


if __name__ == "__main__":
    main()
