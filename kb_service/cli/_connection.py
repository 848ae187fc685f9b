"""How a remote command reaches the service: `--url` / `--key` / `--kb`, else a named profile of the
config file (`--profile`), else `KB_URL` / `KB_API_KEY` / `KB_KB_ID`, else the profile named `default`.

The config file is TOML, at `$KB_CLI_CONFIG` or `~/.config/kb-service/config.toml` (under
`$XDG_CONFIG_HOME` when set), written 0600 because it holds keys:

    [profiles.prod]
    url = "https://kb.example.com"
    key = "kb_..."
    kb = "…knowledge base id…"
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from kb_service.cli._common import runtime
from kb_service.client import KBClient
from kb_service.client._base import DEFAULT_URL
from kb_service.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class Profile:
    name: str
    url: str | None = None
    key: str | None = None
    kb: str | None = None


def config_path() -> Path:
    explicit = os.environ.get("KB_CLI_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "kb-service" / "config.toml"


def load_profiles() -> dict[str, Profile]:
    path = config_path()
    if not path.exists():
        return {}
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(f"Cannot read the config file {path}: {exc}.") from None
    profiles = raw.get("profiles", {})
    if not isinstance(profiles, dict):
        raise InvalidInput(f"{path}: `profiles` must be a table.")
    out = {}
    for name, values in profiles.items():
        if not isinstance(values, dict):
            raise InvalidInput(f"{path}: profile {name!r} must be a table.")
        out[name] = Profile(
            name, *(str(values[k]) if values.get(k) is not None else None for k in ("url", "key", "kb"))
        )
    return out


def save_profile(profile: Profile) -> Path:
    profiles = load_profiles()
    profiles[profile.name] = profile
    return write_profiles(list(profiles.values()))


def write_profiles(profiles: list[Profile]) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lines = []
    for item in profiles:
        lines.append(f"[profiles.{json.dumps(item.name)}]")
        # A JSON string is a valid TOML basic string.
        lines.extend(
            f"{field} = {json.dumps(value)}"
            for field, value in (("url", item.url), ("key", item.key), ("kb", item.kb))
            if value is not None
        )
        lines.append("")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write("\n".join(lines))
    os.chmod(path, 0o600)
    return path


@dataclass(frozen=True)
class Connection:
    url: str
    key: str | None
    kb: str | None

    def client(self, *, timeout: float = 120.0) -> KBClient:
        return KBClient(self.url, self.key, timeout=timeout, transport=runtime().transport)

    def kb_id(self) -> str:
        if not self.kb:
            raise InvalidInput(
                "Name the knowledge base: --kb ID (or a profile's `kb`).", details={"field": "kb"}
            )
        return self.kb


def connection(url: str | None, key: str | None, profile: str | None, kb: str | None = None) -> Connection:
    profiles = load_profiles()
    chosen: Profile | None = None
    if profile is not None:
        chosen = profiles.get(profile)
        if chosen is None:
            raise NotFound(f"No profile {profile!r} in {config_path()}.")
    fallback = profiles.get("default")
    env = Profile("env", os.environ.get("KB_URL"), os.environ.get("KB_API_KEY"), os.environ.get("KB_KB_ID"))
    layers = [p for p in (chosen, env, fallback) if p is not None]

    def pick(given: str | None, attribute: str) -> str | None:
        if given:
            return given
        for layer in layers:
            value = getattr(layer, attribute)
            if value:
                return str(value)
        return None

    return Connection(pick(url, "url") or DEFAULT_URL, pick(key, "key"), pick(kb, "kb"))
