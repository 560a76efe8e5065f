"""The file that keeps your own short names for references, in the user config dir.

This module only reads and writes the file; ``resolve`` validates and looks names up.

The file lives where platformdirs says a user's config belongs on this system (e.g.
``~/.config/easynlu/aliases.json`` on Linux); platformdirs is the maintained successor of
appdirs. ``EASYNLU_CONFIG_DIR`` moves it. Catalogue names always win over user aliases, in the
manner of simonw/llm's aliases layered on top of its models.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from . import files
from .errors import EasyNLUError


def path() -> Path:
    """The aliases file (it need not exist yet)."""
    folder = os.environ.get("EASYNLU_CONFIG_DIR")
    if folder:
        return Path(folder) / "aliases.json"
    import platformdirs

    return platformdirs.user_config_path("easynlu") / "aliases.json"


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


def write(aliases: dict[str, str]) -> None:
    """Replace the file with ``aliases``, atomically: a reader never sees half a file."""
    files.write_json(path(), dict(sorted(aliases.items())), indent=2)
