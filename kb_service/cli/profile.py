"""`kb-service profile add/list/remove`: named connections (URL, key, KB) in the config file, for
`--profile NAME` (the one named `default` applies when nothing else is given)."""

from __future__ import annotations

from typing import Annotated

import typer

from kb_service.cli._common import answer, table
from kb_service.cli._connection import Profile, config_path, load_profiles, save_profile, write_profiles
from kb_service.errors import NotFound

Name = Annotated[str, typer.Argument(help="The profile's name (`default` applies without --profile).")]


def register(app: typer.Typer) -> None:
    profile = typer.Typer(help="Saved connections: URL, key and knowledge base.", no_args_is_help=True)
    profile.command("add", help="Add or replace a profile.")(add)
    profile.command("list", help="The profiles (keys masked).")(list_profiles)
    profile.command("remove", help="Remove a profile.")(remove)
    app.add_typer(profile, name="profile")


def _masked(key: str | None) -> str | None:
    return None if key is None else key[: min(8, len(key) // 2)] + "…"


def add(
    name: Name,
    url: Annotated[str | None, typer.Option("--url", help="The service's base URL.")] = None,
    key: Annotated[str | None, typer.Option("--key", help="An API key.")] = None,
    kb: Annotated[str | None, typer.Option("--kb", help="The knowledge base id.")] = None,
) -> int:
    path = save_profile(Profile(name, url, key, kb))
    answer({"profile": name, "path": str(path)}, f"Saved profile {name!r} in {path}.")
    return 0


def list_profiles() -> int:
    profiles = load_profiles()
    listed = [{"name": p.name, "url": p.url, "kb": p.kb, "key": _masked(p.key)} for p in profiles.values()]
    rows = [(p["name"], p["url"], p["kb"], p["key"]) for p in listed]
    answer(listed, table(str(config_path()), ["Profile", "URL", "KB", "Key"], rows))
    return 0


def remove(name: Name) -> int:
    profiles = load_profiles()
    if name not in profiles:
        raise NotFound(f"No profile {name!r} in {config_path()}.")
    write_profiles([p for p in profiles.values() if p.name != name])
    answer({"profile": name, "removed": True}, f"Removed profile {name!r}.")
    return 0
