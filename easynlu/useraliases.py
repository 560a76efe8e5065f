"""Your own short names for references, kept in a JSON file in the user config dir.

The file lives where platformdirs says a user's config belongs on this system (e.g.
``~/.config/easynlu/aliases.json`` on Linux); platformdirs is the maintained successor of
appdirs. ``EASYNLU_CONFIG_DIR`` moves it. Catalogue names always win over user aliases, in the
manner of simonw/llm's aliases layered on top of its models.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .errors import EasyNLUError, UnknownReferenceError

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def path() -> Path:
    """The aliases file (it need not exist yet)."""
    folder = os.environ.get("EASYNLU_CONFIG_DIR")
    if not folder:
        import platformdirs

        folder = platformdirs.user_config_path("easynlu")
    return Path(folder) / "aliases.json"


def read() -> dict[str, str]:
    """Alias name (lower case) -> the reference it stands for; empty if there is no file."""
    file = path()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ValueError("expected a JSON object of name -> reference strings")
    except ValueError as err:
        raise EasyNLUError(
            f"The user aliases file {file} is not valid ({err}). Fix or delete it; "
            f"easynlu.set_alias(name, ref) writes a new one."
        ) from err
    return {str(k).lower(): v for k, v in data.items()}


def lookup(name: str) -> str | None:
    return read().get(name.strip().lower())


def set_alias(name: str, ref: str) -> None:
    """Make ``name`` stand for the single reference ``ref`` in every later ``easynlu.load``."""
    from . import catalogue
    from .resolve import resolve

    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"alias name {name!r}: use letters, digits, '_', '.' and '-' (no spaces).")
    if catalogue.lookup(name) or catalogue.lookup("en." + name):
        raise ValueError(f"{name!r} is already a catalogue name; catalogue names always win, so "
                         f"pick another alias name.")
    components = resolve(ref)  # raises UnknownReferenceError for a bad ref
    if len(components) != 1:
        raise ValueError(f"an alias stands for one reference, got {len(components)} in {ref!r}.")
    comp = components[0]
    stored = comp.ref  # canonical spelling, hf:ORG/NAME, or the absolute path of a directory
    if comp.source != "catalogue" and comp.action == "embed_sentence":  # keep the prefix's action
        stored = "embed_sentence:" + stored
    _write({**read(), name.lower(): stored})


def remove_alias(name: str) -> None:
    aliases = read()
    if name.lower() not in aliases:
        raise UnknownReferenceError(f"No user alias {name!r}; the user aliases are {sorted(aliases) or 'none'}.",
                                    ref=name)
    del aliases[name.lower()]
    _write(aliases)


def _write(aliases: dict[str, str]) -> None:
    file = path()
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_suffix(".json.tmp")
    partial.write_text(json.dumps(dict(sorted(aliases.items())), indent=2) + "\n", encoding="utf-8")
    os.replace(partial, file)  # atomic: a reader never sees half a file
