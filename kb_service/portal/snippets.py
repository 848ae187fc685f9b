"""The overview's documentation card: how an app connects to this resource with its key.

Each snippet is filled in with the resource's id and the base URL the page was asked at; the key is
the `$KEY` shell variable (`os.environ["KEY"]` in Python), so a snippet runs as copied once the
caller has exported their key. The shapes are the API's own: the KB routes of `knowledge` and
`retrieval`, the MCP server at `/mcp`, the OpenAI vector-store routes and the model gateway.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from schemas.resources import ResourceOut

# What a base URL may hold before it goes into a shell command (the Host header is the visitor's).
_SAFE_BASE = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._\-/]*)?")
FALLBACK_BASE = "http://127.0.0.1:8000"


@dataclass(frozen=True, slots=True)
class Snippet:
    id: str
    title: str
    language: str  # "bash", "python" or "json"
    code: str
    note: str = ""


def safe_base_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    return base if _SAFE_BASE.fullmatch(base) else FALLBACK_BASE


def _json(body: object) -> str:
    return json.dumps(body, ensure_ascii=True)


def _curl(method: str, url: str, body: object | None = None, *extra: str) -> str:
    lines = [f"curl -s{' -X ' + method if method not in ('GET', 'POST') else ''} '{url}'"]
    lines.append('-H "Authorization: Bearer $KEY"')
    lines.extend(extra)
    if body is not None:
        lines.append("-H 'Content-Type: application/json'")
        lines.append(f"-d '{_json(body)}'")
    return " \\\n  ".join(lines)


def knowledge_base_snippets(kb_id: str, base: str) -> list[Snippet]:
    root = f"{base}/v1/knowledge-bases/{kb_id}"
    question = "What is the refund policy?"
    push = {
        "mode": "insert",
        "chunks": [
            {
                "text": "Refunds are paid within 14 days of the return.",
                "human_readable_id": "faq-refunds",
                "metadata": {"Category": "FAQ"},
            }
        ],
    }
    mcp_config = {
        "mcpServers": {
            "knowledge-base": {
                "type": "http",
                "url": f"{base}/mcp",
                "headers": {"Authorization": "Bearer ${KEY}"},
            }
        }
    }
    return [
        Snippet(
            "kb-upload",
            "Upload a file (TXT or PDF)",
            "bash",
            _curl(
                "POST",
                f"{root}/documents",
                None,
                "-F file=@manual.pdf",
                "-F collection=Manuals",
                '-F \'metadata={"Category": "Manual"}\'',
            ),
            "Parsed, chunked, embedded and indexed in the background; poll the document for its status.",
        ),
        Snippet(
            "kb-push",
            "Push ready-made chunks (Embed & Insert)",
            "bash",
            _curl("POST", f"{root}/collections/default/chunks", push),
            "mode is insert, repopulate or replace; at most 2,048 characters a chunk.",
        ),
        Snippet(
            "kb-search",
            "Search",
            "bash",
            _curl("POST", f"{root}/search", {"query": question, "max_results": 3}),
            'Filter with "metadata": {"Category": "FAQ"} and "collections": [...].',
        ),
        Snippet(
            "kb-mcp",
            "MCP server (streamable HTTP) for an assistant",
            "json",
            json.dumps(mcp_config, indent=2),
            f"Any MCP client: the URL {base}/mcp with the knowledge base's key as a Bearer token; "
            "tools search, list_collections, get_document, get_chunks.",
        ),
        Snippet(
            "kb-vector-store",
            "OpenAI vector-store search (openai client)",
            "python",
            _openai_python(
                base,
                [
                    "page = client.vector_stores.search(",
                    f'    vector_store_id="{kb_id}", query="{question}", max_num_results=3',
                    ")",
                    "for hit in page.data:",
                    "    print(hit.score, hit.filename, hit.content[0].text)",
                ],
            ),
            "The knowledge base is the vector store; its collections and metadata are the attributes.",
        ),
        Snippet(
            "kb-vector-store-curl",
            "OpenAI vector-store search (curl)",
            "bash",
            _curl(
                "POST", f"{base}/v1/vector_stores/{kb_id}/search", {"query": question, "max_num_results": 3}
            ),
        ),
    ]


def text_snippets(base: str, model: str | None) -> list[Snippet]:
    messages = [{"role": "user", "content": "Hello"}]
    chat: dict[str, object] = {"messages": messages, "max_tokens": 100}
    if model:
        chat = {"model": model, **chat}
    anthropic_body = {"model": model or "", "max_tokens": 100, "messages": messages}
    return [
        Snippet("models", "List the enabled models", "bash", _curl("GET", f"{base}/v1/models")),
        Snippet(
            "chat",
            "Chat completion (OpenAI shape)",
            "bash",
            _curl("POST", f"{base}/v1/chat/completions", chat),
            'Leave out "model" to use the resource\'s default model; "stream": true streams SSE.',
        ),
        Snippet(
            "messages",
            "Messages (Anthropic shape)",
            "bash",
            _curl("POST", f"{base}/v1/messages", anthropic_body, "-H 'anthropic-version: 2023-06-01'"),
        ),
        Snippet(
            "chat-python",
            "With the openai client",
            "python",
            _openai_python(
                base,
                [
                    "answer = client.chat.completions.create(",
                    f'    model="{model or ""}", messages=[{{"role": "user", "content": "Hello"}}]',
                    ")",
                    "print(answer.choices[0].message.content, answer.usage)",
                ],
            ),
        ),
    ]


def _openai_python(base: str, lines: list[str]) -> str:
    """A Python snippet with the official openai client pointed at this deployment."""
    head = [
        "import os",
        "from openai import OpenAI",
        "",
        f'client = OpenAI(base_url="{base}/v1", api_key=os.environ["KEY"])',
    ]
    return "\n".join([*head, *lines])


def embeddings_snippets(base: str, model: str | None) -> list[Snippet]:
    body: dict[str, object] = {"input": ["What is the refund policy?"], "input_type": "search_query"}
    if model:
        body = {"model": model, **body}
    return [
        Snippet("models", "List the enabled models", "bash", _curl("GET", f"{base}/v1/models")),
        Snippet(
            "embeddings",
            "Embed texts",
            "bash",
            _curl("POST", f"{base}/v1/embeddings", body),
            "input_type: search_document for stored texts (the default), search_query for questions.",
        ),
        Snippet(
            "embeddings-python",
            "With the openai client",
            "python",
            _openai_python(
                base,
                [
                    "vectors = client.embeddings.create(",
                    f'    model="{model or ""}", input=["a", "b"],',
                    '    extra_body={"input_type": "search_document"},',
                    ")",
                    "print(len(vectors.data[0].embedding), vectors.usage.prompt_tokens)",
                ],
            ),
        ),
    ]


def snippets_for(resource: ResourceOut, base_url: str) -> list[Snippet]:
    base = safe_base_url(base_url)
    if resource.type == "knowledge_base":
        return knowledge_base_snippets(resource.id, base)
    if resource.type == "text_generation":
        return text_snippets(base, resource.default_model or next(iter(resource.models), None))
    return embeddings_snippets(base, next(iter(resource.models), None))
