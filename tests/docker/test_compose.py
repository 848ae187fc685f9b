"""The deployment files: docker/compose.yml, docker/Dockerfile and .dockerignore.

No Docker engine runs here, so the files are checked as data: parsed, interpolated the way Compose
does, and held against the code they start — every `KB_*` variable must be a real setting and build
the `Settings` it claims to, every command must parse with the real CLI, every healthcheck must point
at something that exists. The scheduler's and the worker's healthchecks also run for real.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
import yaml
from pydantic import BaseModel
from sqlalchemy.engine import make_url

from kb_service.cli import check_args
from kb_service.config import OpenSearchStoreSettings, Settings
from kb_service.ops.router import router as ops_router
from kb_service.queue.broker import make_celery
from tests.conftest import REDIS_URL

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker" / "compose.yml"
DOCKERFILE = REPO / "docker" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"

KB_SERVICES = ("api", "worker", "scheduler", "migrate")
LONG_RUNNING = ("opensearch", "redis", "postgres", "api", "worker", "scheduler")
BACKING = ("opensearch", "redis", "postgres")
REQUIRED_SECRETS = ("OPENSEARCH_ADMIN_PASSWORD", "KB_POSTGRES_PASSWORD")
# What a user would export; the symbols show that nothing re-quotes or mangles a password.
HOST_ENV = {"OPENSEARCH_ADMIN_PASSWORD": "Os-Admin-pw9!", "KB_POSTGRES_PASSWORD": "pg-pw-1234"}

# `$$` is an escaped dollar; `${NAME}`, `${NAME:-default}`, `${NAME:?message}` (and without colon).
_REFERENCE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


@dataclass(frozen=True)
class Reference:
    name: str
    op: str | None
    arg: str


class MissingVariableError(Exception):
    pass


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's interpolation, applied to every string of a parsed document."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        if name is None:
            return "$"
        present = name in env and (env[name] != "" or not (op or "").startswith(":"))
        if op in (":-", "-"):
            return env[name] if present else arg
        if op in (":?", "?") and not present:
            raise MissingVariableError(f"{name}: {arg}")
        return env.get(name, "")

    return _REFERENCE.sub(substitute, value)


def references(value: Any) -> Iterator[Reference]:
    if isinstance(value, dict):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)
    elif isinstance(value, str):
        for match in _REFERENCE.finditer(value):
            if match["name"] is not None:
                yield Reference(match["name"], match["op"], match["arg"] or "")


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(key): str(value) for key, value in env.items()}


def setting_env_names(model: type[BaseModel], prefix: str = "KB_") -> set[str]:
    """Every variable `Settings` reads: `KB_` + field names joined by `__`, at every depth."""
    names: set[str] = set()
    for field_name, field in model.model_fields.items():
        name = f"{prefix}{field_name.upper()}"
        names.add(name)
        for nested in _models_in(field.annotation):
            names |= setting_env_names(nested, f"{name}__")
    return names


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    resolved: dict[str, Any] = interpolate(raw, HOST_ENV)
    return resolved


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def _settings_from(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in list(os.environ):
        if name.upper().startswith("KB_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


# --- the shape of the stack ---------------------------------------------------------------------


def test_stack_has_the_backing_services_and_every_kb_service_role(services: dict[str, Any]) -> None:
    assert set(services) == {*BACKING, *KB_SERVICES}


def test_no_version_key_the_compose_specification_has_none(raw: dict[str, Any]) -> None:
    assert "version" not in raw


@pytest.mark.parametrize("name", BACKING)
def test_backing_images_are_pinned_to_a_release(services: dict[str, Any], name: str) -> None:
    # A release, not a moving tag: "latest", "2" or "16" would change under a redeploy.
    image, _, tag = services[name]["image"].rpartition(":")
    assert image
    assert re.fullmatch(r"\d+(\.\d+)+", tag), f"{name} image is not pinned to a release: {tag!r}"


def test_opensearch_is_the_official_2x_image_run_as_one_node(services: dict[str, Any]) -> None:
    opensearch = services["opensearch"]
    assert opensearch["image"].startswith("opensearchproject/opensearch:2.")
    assert opensearch["environment"]["discovery.type"] == "single-node"
    assert opensearch["ulimits"]["memlock"] == {"soft": -1, "hard": -1}
    assert re.search(r"-Xms\S+ -Xmx\S+", opensearch["environment"]["OPENSEARCH_JAVA_OPTS"])


@pytest.mark.parametrize("name", KB_SERVICES)
def test_kb_services_build_the_image_from_docker_dockerfile(services: dict[str, Any], name: str) -> None:
    build = services[name]["build"]
    context = (COMPOSE_FILE.parent / build["context"]).resolve()
    assert context == REPO
    assert (context / build["dockerfile"]).resolve() == DOCKERFILE


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_long_running_service_has_a_healthcheck(services: dict[str, Any], name: str) -> None:
    healthcheck = services[name].get("healthcheck") or {}
    assert not healthcheck.get("disable", False)
    assert healthcheck.get("test"), f"{name} has no healthcheck"


def test_migrate_is_one_shot_after_postgres(services: dict[str, Any]) -> None:
    migrate = services["migrate"]
    assert migrate["command"][1:] == ["db", "upgrade"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}


@pytest.mark.parametrize("name", ["api", "worker", "scheduler"])
def test_kb_processes_wait_for_healthy_backends_and_finished_migrations(
    services: dict[str, Any], name: str
) -> None:
    depends_on = services[name]["depends_on"]
    for backend in BACKING:
        assert depends_on[backend] == {"condition": "service_healthy"}
    assert depends_on["migrate"] == {"condition": "service_completed_successfully"}


def test_exactly_one_scheduler_and_workers_without_beat(services: dict[str, Any]) -> None:
    assert services["scheduler"]["command"][1:] == ["beat"]
    assert services["scheduler"]["deploy"]["replicas"] == 1
    assert "--beat" not in services["worker"]["command"]


def test_api_is_published_and_opensearch_only_on_loopback(services: dict[str, Any]) -> None:
    assert services["api"]["ports"] == ["8000:8000"]
    assert services["opensearch"]["ports"] == ["127.0.0.1:9200:9200"]
    for name in ("redis", "postgres"):
        assert "ports" not in services[name]


@pytest.mark.parametrize("name", KB_SERVICES)
def test_kb_service_commands_parse_with_the_real_cli(services: dict[str, Any], name: str) -> None:
    command = services[name]["command"]
    assert command[0] == "kb-service"
    check_args(command[1:])  # raises (fails the test) on an unknown command or flag


def test_api_healthcheck_asks_ready_on_the_port_the_api_listens_on(services: dict[str, Any]) -> None:
    api = services["api"]
    port = api["command"][api["command"].index("--port") + 1]
    probe = " ".join(api["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/ready" in probe
    assert "/ready" in {getattr(route, "path", None) for route in ops_router.routes}


# --- interpolation and secrets ------------------------------------------------------------------


@pytest.mark.parametrize("secret", REQUIRED_SECRETS)
def test_required_secrets_fail_fast_with_a_message(raw: dict[str, Any], secret: str) -> None:
    uses = [ref for ref in references(raw) if ref.name == secret]
    assert uses, f"{secret} is never used"
    for ref in uses:
        assert ref.op == ":?"
        assert secret in ref.arg
    with pytest.raises(MissingVariableError, match=secret):
        interpolate(raw, {k: v for k, v in HOST_ENV.items() if k != secret})


def test_every_reference_is_required_or_has_a_default(raw: dict[str, Any]) -> None:
    # A bare ${NAME} silently becomes "" when unset.
    bare = [ref.name for ref in references(raw) if ref.op not in (":?", ":-")]
    assert bare == []


# --- every KB_ variable is a real setting and means what it says ------------------------------


def test_every_kb_variable_in_the_deployment_files_is_a_setting(
    services: dict[str, Any], compose: dict[str, Any]
) -> None:
    valid = setting_env_names(Settings)
    named = {name for service in services.values() for name in environment_of(service)}
    named |= set(compose["x-kb-env"])
    named |= set(dockerfile_env(final_stage(parse_dockerfile())))
    unknown = sorted(name for name in named if name.upper().startswith("KB_") and name.upper() not in valid)
    assert unknown == []


def test_setting_names_reach_nested_models() -> None:
    valid = setting_env_names(Settings)
    assert {"KB_VECTOR_STORE__CA_CERTS", "KB_COHERE__API_KEY", "KB_WORKER__CONCURRENCY"} <= valid
    assert "KB_VECTOR_STORE__NO_SUCH_FIELD" not in valid


@pytest.mark.parametrize("name", KB_SERVICES)
def test_kb_services_share_one_environment(
    services: dict[str, Any], compose: dict[str, Any], name: str
) -> None:
    assert environment_of(services[name]) == environment_of({"environment": compose["x-kb-env"]})


@pytest.mark.parametrize("cohere_key", [None, "co-test-key"])
def test_compose_environment_builds_the_distributed_settings(
    raw: dict[str, Any], monkeypatch: pytest.MonkeyPatch, cohere_key: str | None
) -> None:
    host_env = HOST_ENV | ({"KB_COHERE__API_KEY": cohere_key} if cohere_key else {})
    env = environment_of(interpolate(raw, host_env)["services"]["worker"])

    settings = _settings_from(env, monkeypatch)

    store = settings.vector_store
    assert isinstance(store, OpenSearchStoreSettings)
    assert store.hosts == ["https://opensearch:9200"]
    assert store.username == "admin"
    assert store.password is not None
    assert store.password.get_secret_value() == HOST_ENV["OPENSEARCH_ADMIN_PASSWORD"]
    assert store.verify_certs is False
    pg_password = HOST_ENV["KB_POSTGRES_PASSWORD"]
    assert settings.database_url == f"postgresql+psycopg://kb:{pg_password}@postgres:5432/kb"
    assert settings.broker_url == "redis://redis:6379/0"
    assert settings.data_dir == Path("/data")
    # The empty default means "no key", which the Cohere embedder treats like an unset one.
    api_key = settings.cohere.api_key.get_secret_value() if settings.cohere.api_key else ""
    assert api_key == (cohere_key or "")


def test_connection_settings_point_at_the_services_that_serve_them(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings_from(environment_of(services["api"]), monkeypatch)
    database = make_url(settings.resolved_database_url)
    postgres = services["postgres"]["environment"]
    assert (database.host, database.port) == ("postgres", 5432)
    assert database.username == postgres["POSTGRES_USER"]
    assert database.database == postgres["POSTGRES_DB"]
    assert database.password == postgres["POSTGRES_PASSWORD"]
    assert urlsplit(settings.resolved_broker_url).hostname == "redis"
    assert isinstance(settings.vector_store, OpenSearchStoreSettings)
    assert settings.vector_store.password is not None
    assert [urlsplit(host).hostname for host in settings.vector_store.hosts] == ["opensearch"]
    opensearch_password = services["opensearch"]["environment"]["OPENSEARCH_INITIAL_ADMIN_PASSWORD"]
    assert settings.vector_store.password.get_secret_value() == opensearch_password


# --- the healthchecks run -----------------------------------------------------------------------


def _probe(services: dict[str, Any], name: str) -> list[str]:
    test = services[name]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]
    return [sys.executable, *test[2:]]


def _process_env(env: Mapping[str, str]) -> dict[str, str]:
    # Only the given settings: a KB_ variable exported in the developer's shell must not leak in.
    inherited = {k: v for k, v in os.environ.items() if not k.upper().startswith("KB_")}
    return {**inherited, "PYTHONPATH": str(REPO), **env}


def _run(command: list[str], env: Mapping[str, str], timeout: float = 60) -> int:
    return subprocess.run(
        command, env=_process_env(env), capture_output=True, timeout=timeout, check=False
    ).returncode


def test_scheduler_healthcheck_follows_the_beat_schedule_file(
    services: dict[str, Any], tmp_path: Path
) -> None:
    probe, env = _probe(services, "scheduler"), {"KB_DATA_DIR": str(tmp_path)}
    # A Redis URL (never contacted) keeps make_celery off the SQLite transport's class-level tuning.
    settings = Settings(data_dir=tmp_path, broker_url="redis://127.0.0.1:1/0")
    schedule = Path(make_celery(settings).conf.beat_schedule_filename)
    assert _run(probe, env) == 1  # beat never wrote its schedule

    written = schedule.with_name(schedule.name + ".dat")  # dbm.dumb's name; gdbm uses the bare name
    written.write_bytes(b"")
    assert _run(probe, env) == 0

    an_hour_ago = time.time() - 3600
    os.utime(written, (an_hour_ago, an_hour_ago))
    assert _run(probe, env) == 1  # beat stopped writing: stuck


@pytest.mark.worker
@pytest.mark.redis
def test_worker_healthcheck_answers_only_while_a_worker_runs_here(
    services: dict[str, Any], tmp_path: Path
) -> None:
    # A database of its own: ping broadcasts reach every worker on a database, and other test
    # workers on this machine share its hostname.
    parts = urlsplit(REDIS_URL)
    env = {
        "KB_BROKER_URL": urlunsplit(parts._replace(path="/14")),
        "KB_DATA_DIR": str(tmp_path / "data"),
        "KB_QUEUE_PREFIX": f"t{uuid.uuid4().hex[:10]}",
        "KB_LOG_JSON": "false",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    probe = _probe(services, "worker")
    assert _run(probe, env) == 1

    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "kb_service.cli", "worker"],
            env=_process_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_ready(worker, log)
        assert _run(probe, env) == 0
    finally:
        worker.terminate()
        worker.wait(60)
        broker = redis.Redis.from_url(env["KB_BROKER_URL"])
        broker.delete(*broker.keys(f"_kombu.binding*.{env['KB_QUEUE_PREFIX']}.*"))
        broker.close()


def _wait_for_ready(process: subprocess.Popen[bytes], log: Path, limit_s: float = 180) -> None:
    deadline = time.monotonic() + limit_s
    while "ready." not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"worker did not become ready:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)


# --- Compose itself, where a v2 CLI is installed ------------------------------------------------


def _compose_cli() -> list[str] | None:
    candidates = [["docker", "compose"]] if shutil.which("docker") else []
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for cli in candidates:
        result = subprocess.run([*cli, "version", "--short"], capture_output=True, text=True, check=False)
        # v1 predates the Compose Specification (it rejects the top-level `name`).
        if result.returncode == 0 and result.stdout.strip().lstrip("v").startswith("2"):
            return cli
    return None


@pytest.fixture
def compose_cli(tmp_path: Path) -> list[str]:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no Docker Compose v2 CLI installed")
    empty_env_file = tmp_path / "empty.env"  # ignore any docker/.env a developer keeps
    empty_env_file.write_text("")
    return [*cli, "-f", str(COMPOSE_FILE), "--env-file", str(empty_env_file)]


def test_compose_cli_accepts_the_file_and_interpolates_like_this_test(
    compose_cli: list[str], services: dict[str, Any]
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in REQUIRED_SECRETS} | HOST_ENV
    result = subprocess.run(
        [*compose_cli, "config", "--format", "json"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    rendered = json.loads(result.stdout)["services"]
    for name in KB_SERVICES:
        assert rendered[name]["environment"] == environment_of(services[name])


def test_compose_cli_refuses_to_run_without_the_secrets(compose_cli: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in REQUIRED_SECRETS}
    result = subprocess.run(
        [*compose_cli, "config", "-q"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert any(secret in result.stderr for secret in REQUIRED_SECRETS)


# --- the Dockerfile -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    stage: int


def parse_dockerfile(path: Path = DOCKERFILE) -> list[Instruction]:
    """Logical instructions: continuations joined, comments dropped (also inside continuations)."""
    instructions: list[Instruction] = []
    stage, pending = -1, ""
    for line in path.read_text().splitlines():
        if line.strip().startswith("#") or (not line.strip() and not pending):
            continue
        pending += line.rstrip().removesuffix("\\") + " "
        if line.rstrip().endswith("\\"):
            continue
        keyword, _, args = pending.strip().partition(" ")
        pending = ""
        stage += keyword.upper() == "FROM"
        instructions.append(Instruction(keyword.upper(), " ".join(args.split()), stage))
    return instructions


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    last = instructions[-1].stage
    return [i for i in instructions if i.stage == last]


def dockerfile_env(instructions: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "ENV":
            env |= dict(pair.split("=", 1) for pair in shlex.split(instruction.args))
    return env


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _copied_sources(instructions: list[Instruction]) -> list[str]:
    sources: list[str] = []
    for i in instructions:
        if i.keyword == "COPY" and not i.args.startswith("--from"):
            sources += i.args.split()[:-1]
    return sources


def test_every_stage_is_python_311_slim() -> None:
    bases = [i.args.split()[0] for i in parse_dockerfile() if i.keyword == "FROM"]
    assert bases
    assert set(bases) == {"python:3.11-slim"}


def test_torch_is_installed_first_with_the_pyproject_pin() -> None:
    pins = [dep for dep in _pyproject()["project"]["dependencies"] if dep.startswith("torch")]
    assert len(pins) == 1
    runs = [i.args for i in parse_dockerfile() if i.keyword == "RUN"]
    torch_at = next(n for n, run in enumerate(runs) if "pip install" in run and pins[0] in run)
    project_at = next(n for n, run in enumerate(runs) if re.search(r"pip install \.(\s|;|$)", run))
    assert torch_at < project_at
    assert '--index-url "$TORCH_INDEX_URL"' in runs[torch_at]
    assert not any("pip install .[" in run or "-e ." in run for run in runs)


def test_image_copies_every_package_the_project_ships() -> None:
    sources = _copied_sources(parse_dockerfile())
    packages = [p.rstrip("*") for p in _pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]]
    assert set(sources) >= {"pyproject.toml", _pyproject()["project"]["readme"], *packages}


def test_dockerignore_readmits_everything_the_dockerfile_copies() -> None:
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    assert "*" in lines
    for source in _copied_sources(parse_dockerfile()):
        assert f"!{source}" in lines, f".dockerignore keeps {source} out of the build context"


def test_runtime_stage_runs_as_a_non_root_user() -> None:
    users = [i.args.split(":")[0] for i in final_stage(parse_dockerfile()) if i.keyword == "USER"]
    assert users
    assert users[-1] not in {"root", "0"}


def test_runtime_is_offline_with_data_under_slash_data() -> None:
    stage = final_stage(parse_dockerfile())
    env = dockerfile_env(stage)
    assert env["KB_DATA_DIR"] == "/data"
    assert env["HF_HUB_OFFLINE"] == env["TRANSFORMERS_OFFLINE"] == "1"
    assert any(i.keyword == "VOLUME" and "/data" in i.args for i in stage)
    assert any(i.keyword == "EXPOSE" and i.args == "8000" for i in stage)


def test_image_healthcheck_probes_health_and_default_command_runs_the_api() -> None:
    stage = final_stage(parse_dockerfile())
    healthcheck = next(i.args for i in stage if i.keyword == "HEALTHCHECK")
    probe = json.loads(healthcheck[healthcheck.index("CMD") + 3 :])
    assert probe[0] == "python"
    assert "http://127.0.0.1:8000/health" in probe[-1]
    assert "/health" in {getattr(route, "path", None) for route in ops_router.routes}
    command = json.loads(next(i.args for i in stage if i.keyword == "CMD"))
    assert command[0] == "kb-service"
    arguments = check_args(command[1:])
    assert (arguments["host"], arguments["port"]) == ("0.0.0.0", 8000)
