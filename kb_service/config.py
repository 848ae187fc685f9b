"""Settings: the one place the environment is read.

Every variable has the ``KB_`` prefix; nested models use ``__`` (``KB_VECTOR_STORE__KIND=opensearch``).
The embedded default needs nothing but a data folder: SQLite state, a SQLite Celery broker, the
embedded vector store and the bundled local embedder all live under ``KB_DATA_DIR``.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class EmbeddedStoreSettings(BaseModel):
    kind: Literal["embedded"] = "embedded"
    # Where the per-knowledge-base vector files live; defaults to <data_dir>/vectors.
    path: Path | None = None
    # What the in-memory indexes of all open KBs may hold (mapped snapshots included) before the
    # least recently used are evicted (KB_VECTOR_STORE__MEMORY_BUDGET_BYTES); docs/embedded-store.md.
    memory_budget_bytes: int = Field(default=8 << 30, ge=0)
    # Keep an int8 copy of the vectors in each snapshot and scan it, rescoring exactly (recall 1.0).
    int8: bool = False


class OpenSearchStoreSettings(BaseModel):
    kind: Literal["opensearch"]
    hosts: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:9200"])
    username: str | None = None
    password: SecretStr | None = None
    verify_certs: bool = True
    ca_certs: Path | None = None
    # AWS SigV4 signing for Amazon OpenSearch Service ("es") or Serverless ("aoss").
    aws_region: str | None = None
    aws_service: Literal["es", "aoss"] = "es"
    index_prefix: str = "kb-"
    timeout_s: float = 30.0
    max_retries: int = 5
    # HNSW parameters; see docs/opensearch.md for why these values.
    hnsw_m: int = 16
    hnsw_ef_construction: int = 128
    hnsw_ef_search: int = 128
    engine: Literal["faiss", "lucene"] = "faiss"


VectorStoreSettings = Annotated[EmbeddedStoreSettings | OpenSearchStoreSettings, Field(discriminator="kind")]


class CohereSettings(BaseModel):
    api_key: SecretStr | None = None
    base_url: str | None = None
    timeout_s: float = 30.0
    max_retries: int = 5
    # Upper bound for one backoff sleep, whatever Retry-After asks for.
    max_backoff_s: float = 60.0


class LocalEmbedderSettings(BaseModel):
    # Texts per forward pass of the bundled model.
    batch_size: int = Field(default=32, ge=1)
    # Torch device; used by the torch runtime only.
    device: str = "cpu"
    # "onnx": ONNX Runtime on a graph exported once from the bundled weights and cached under
    # <data_dir>/models (falls back to torch, with a warning, if export or loading fails).
    # "torch": sentence-transformers, as before.
    runtime: Literal["onnx", "torch"] = "onnx"
    # ONNX only: "int8" runs a dynamically quantized copy (faster, vectors within ~0.99 cosine).
    quantize: Literal["none", "int8"] = "none"
    # ONNX only: intra-op threads of one forward pass; unset = every CPU this process may use.
    # Give a worker running N embedding processes cores / N each.
    threads: int | None = Field(default=None, ge=1)
    # ONNX only: "latency" keeps pool threads spinning between the operators of a pass (they
    # stop when it ends), so one short query is answered soonest (an API process); "throughput"
    # lets them sleep, so large batches leave the cores to other processes (a worker).
    profile: Literal["latency", "throughput"] = "latency"
    # ONNX only: where exported graphs are kept; unset = <data_dir>/models. Several data folders
    # on one machine (tests, benchmarks) can point here to export once.
    cache_dir: Path | None = None


class WorkerSettings(BaseModel):
    concurrency: int = 1
    # Seconds between broker polls on the SQLite broker (the transport's default is 1 s).
    sqlite_polling_interval_s: float = 0.1
    # A document or chunk job whose worker stops heart-beating for this long is picked up again.
    lease_s: float = 60.0
    sweep_interval_s: float = 15.0
    embed_batch_size: int = 96


class PortalSettings(BaseModel):
    # Signs the portal's session cookies; a random key kept in <data_dir>/portal_secret when unset.
    secret_key: SecretStr | None = None
    # Send the session cookie only over HTTPS; turn on behind TLS.
    cookie_secure: bool = False
    session_minutes: int = Field(default=12 * 60, ge=5)
    sign_in_window_minutes: int = Field(
        default=15, ge=1, description="Failed portal sign-ins count against a limit for this long."
    )
    sign_in_max_failures_per_email: int = Field(
        default=5,
        ge=1,
        description="Sign-in for an email is refused (429) after this many failures in the window.",
    )
    sign_in_max_failures_per_ip: int = Field(
        default=20,
        ge=1,
        description="Sign-in from a client address is refused (429) after this many failures in the window.",
    )


class RerankSettings(BaseModel):
    """Reranking (`rerank: true` on search). "none": refused with a 400; "cohere": Cohere Rerank
    with the key and base URL of `KB_COHERE__*`. No local cross-encoder installs offline (README)."""

    provider: Literal["none", "cohere"] = "none"
    model: Literal["rerank-v3.5", "rerank-multilingual-v3.0"] = "rerank-v3.5"
    # Retries of a rate-limited or failed rerank call inside one search request (short backoff).
    max_retries: int = Field(default=2, ge=0)


# The model gateway's text provider (kb_service/gateway/providers), one model per provider. Here and
# not in the gateway package: config is the foundation every package imports, so it imports none.
class AnthropicTextSettings(BaseModel):
    provider: Literal["anthropic"]
    api_key: SecretStr | None = None
    base_url: str | None = None
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    # Upper bound for one backoff sleep, whatever Retry-After asks for.
    max_backoff_s: float = Field(default=20.0, ge=0)


class BedrockTextSettings(BaseModel):
    provider: Literal["bedrock"]
    # Used when a request names no region (each resource's own region wins).
    region: str = "eu-central-1"
    # Omitted: boto3's default credential chain (instance or task role).
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    endpoint_url: str | None = None
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    max_backoff_s: float = Field(default=20.0, ge=0)


class NoTextSettings(BaseModel):
    """Text generation switched off: text calls answer 503 provider_not_configured."""

    provider: Literal["none"] = "none"


TextProviderSettings = Annotated[
    AnthropicTextSettings | BedrockTextSettings | NoTextSettings,
    Field(discriminator="provider"),
]
TextSettings = TextProviderSettings


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KB_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    data_dir: Path = Path("kb-data")
    # SQLAlchemy URL of the state database; SQLite under data_dir when unset.
    database_url: str | None = None
    # Celery broker; a SQLite broker under data_dir when unset. e.g. redis://127.0.0.1:6379/0
    broker_url: str | None = None
    # Prefix for Celery queue names, so several instances can share one broker.
    queue_prefix: str = "kb"
    vector_store: VectorStoreSettings = Field(default_factory=EmbeddedStoreSettings)
    cohere: CohereSettings = Field(default_factory=CohereSettings)
    local_embedder: LocalEmbedderSettings = Field(default_factory=LocalEmbedderSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    portal: PortalSettings = Field(default_factory=PortalSettings)
    # Default embedding model of `kb create` when none is given.
    default_embedding_model: str = "all-minilm-l6-v2"
    max_upload_bytes: int = 50 * 1024 * 1024
    max_chunks_per_request: int = 2000
    # An uploaded document that would make more chunks fails with the reason, before anything is
    # embedded (a small file can expand into a huge text).
    max_chunks_per_document: int = Field(default=20_000, ge=1)
    # Threads that run the API's endpoints; a call holds one database connection while it runs
    # (through a provider's whole answer, for the model gateway), so the connection pool is sized
    # to match: a slow provider makes calls wait on the provider, never on the pool.
    request_threads: int = Field(default=40, ge=1)
    log_level: str = "INFO"
    log_json: bool = True
    rerank: RerankSettings = Field(default_factory=RerankSettings)
    # The model gateway's text provider (KB_TEXT__PROVIDER=anthropic|bedrock); "none": 503.
    text: TextSettings = Field(default_factory=NoTextSettings)

    @cached_property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'state.sqlite3'}"

    @property
    def resolved_broker_url(self) -> str:
        if self.broker_url:
            return self.broker_url
        return f"sqla+sqlite:///{self.resolved_data_dir / 'broker.sqlite3'}"

    @property
    def blob_dir(self) -> Path:
        return self.resolved_data_dir / "blobs"

    @property
    def embedded_store_path(self) -> Path:
        store = self.vector_store
        if isinstance(store, EmbeddedStoreSettings) and store.path is not None:
            return store.path
        return self.resolved_data_dir / "vectors"

    def ensure_dirs(self) -> None:
        for path in (self.resolved_data_dir, self.blob_dir):
            path.mkdir(parents=True, exist_ok=True)


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
