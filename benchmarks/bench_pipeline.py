"""Full-pipeline throughput against the embedder's own throughput, on the same chunks.

The pipeline run is the real thing on the embedded default: TXT uploads through the HTTP API, a
real `kb-service worker` on the SQLite broker, parsing, chunking, batched embedding with the bundled
model, metering and indexing into the embedded store. Timing starts at the first upload and ends
when the last document is `indexed`. Then the exact chunk texts the pipeline produced are embedded
again by the embedder alone, in the pipeline's batch size, after a warm-up. The ratio of the two
rates is the figure (target: >= 0.9).

    python benchmarks/bench_pipeline.py --documents 8 --chunks-per-document 60
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from benchmarks.corpus import make_chunks


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--documents", type=int, default=8)
    parser.add_argument("--chunks-per-document", type=int, default=60)
    parser.add_argument("--words", type=int, default=150, help="words per paragraph (one chunk each)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        os.environ["KB_DATA_DIR"] = str(data_dir)
        os.environ["KB_QUEUE_PREFIX"] = f"bench{uuid.uuid4().hex[:6]}"
        os.environ["KB_LOG_JSON"] = "false"
        documents = [
            "\n\n".join(make_chunks(args.chunks_per_document, words=args.words, seed=i)).encode()
            for i in range(args.documents)
        ]
        expected = chunk_texts(documents)
        # The embedder alone, before and after the pipeline, so a change in machine load shows.
        before_s = run_embedder(expected)
        pipeline_chunks, pipeline_s, texts = run_pipeline(documents, Path(tmp))
        after_s = run_embedder(expected)
    assert sorted(texts) == sorted(expected), "the pipeline produced other chunks than the chunker alone"

    pipeline_rate = pipeline_chunks / pipeline_s
    embedder_rate = 2 * len(expected) / (before_s + after_s)
    print(f"documents: {args.documents}, chunks: {pipeline_chunks}")
    print(
        f"pipeline: {pipeline_s:7.2f} s  {pipeline_rate:6.2f} chunks/s  (upload -> all indexed, real worker)"
    )
    print(f"embedder: {before_s:7.2f} s before, {after_s:.2f} s after: {embedder_rate:6.2f} chunks/s")
    print(f"ratio:    {pipeline_rate / embedder_rate:.3f}  (target >= 0.9)")


def chunk_texts(documents: list[bytes]) -> list[str]:
    """The chunks the pipeline will make of these documents (parsing and chunking are pure)."""
    from kb_service.config import Settings
    from kb_service.embedders.factory import EmbedderRegistry
    from kb_service.ingestion.chunking import chunk_pages
    from kb_service.ingestion.parsing import parse_document

    embedder = EmbedderRegistry(Settings()).get("all-minilm-l6-v2")
    texts: list[str] = []
    for body in documents:
        pages = parse_document(body, "txt").pages
        texts += [
            c.text
            for c in chunk_pages(pages, count_tokens=embedder.count_tokens, max_tokens=embedder.max_tokens)
        ]
    return texts


def run_pipeline(documents: list[bytes], tmp: Path) -> tuple[int, float, list[str]]:
    from fastapi.testclient import TestClient

    from kb_service.api import create_app
    from kb_service.clock import SystemClock
    from kb_service.config import Settings
    from kb_service.container import Container
    from kb_service.db import session_scope
    from kb_service.migrations import upgrade
    from kb_service.services import Services

    settings = Settings()
    container = Container.build(settings)
    upgrade(container.engine)
    with session_scope(container.sessions) as session:
        services = Services(session, container, SystemClock())
        kb = services.resources.create_knowledge_base("bench", model_id="all-minilm-l6-v2")
        kb_id = kb.knowledge_base.id
        key = services.keys.create(kb_id).secret
    headers = {"Authorization": f"Bearer {key}"}

    log_path = tmp / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "kb_service.cli", "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        try:
            _wait_for(lambda: "ready." in log_path.read_text(errors="replace"), 600, "worker ready")
        except TimeoutError:
            print(log_path.read_text(errors="replace")[-3000:])
            raise
        with TestClient(create_app(container=container)) as client:
            started = time.perf_counter()
            ids = []
            for i, body in enumerate(documents):
                response = client.post(
                    f"/v1/knowledge-bases/{kb_id}/documents",
                    headers=headers,
                    files={"file": (f"doc-{i}.txt", body, "text/plain")},
                )
                response.raise_for_status()
                ids.append(response.json()["id"])

            def done() -> bool:
                listing = client.get(
                    f"/v1/knowledge-bases/{kb_id}/documents", headers=headers, params={"limit": 1000}
                ).json()["items"]
                failed = [d for d in listing if d["status"] == "failed"]
                if failed:
                    raise RuntimeError(f"document failed: {failed[0]['error']}")
                return all(d["status"] == "indexed" for d in listing)

            _wait_for(done, 3600, "all documents indexed", poll=0.5)
            elapsed = time.perf_counter() - started
        page = container.store.list_chunks(kb_id, offset=0, limit=1_000_000)
        texts = [chunk.text for chunk in page.items]
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(60)
        container.close()
    return len(texts), elapsed, texts


def run_embedder(texts: list[str]) -> float:
    from kb_service.config import Settings
    from kb_service.embedders.factory import EmbedderRegistry

    embedder = EmbedderRegistry(Settings()).get("all-minilm-l6-v2")
    embedder.embed(texts[:8], "search_document")  # warm-up: load the model, first-call costs
    started = time.perf_counter()
    for start in range(0, len(texts), 96):
        embedder.embed(texts[start : start + 96], "search_document")
    return time.perf_counter() - started


def _wait_for(predicate: object, timeout: float, what: str, poll: float = 0.2) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll)
    raise TimeoutError(what)


if __name__ == "__main__":
    main()
