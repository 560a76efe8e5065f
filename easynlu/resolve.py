"""Request string -> components: catalogue names, NLU's refs, user aliases, ``hf:ORG/NAME`` ids, directories.

A name is looked up in this order: a catalogue ref or alias, NLU's table (``nlu_refs.toml``), the
same two with ``en.`` in front, user aliases, directories. Matching is case-insensitive.

Resolution owns every lookup of a name, user aliases included (``useraliases`` only keeps their
file). Nothing heavy is imported here: resolving a request is instant and needs no network.
"""

from __future__ import annotations

import difflib
import functools
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Literal

from . import catalogue, useraliases
from .catalogue import Entry
from .errors import ModelPathNotFoundError, OptionError, OptionTypeError, UnknownReferenceError

_log = logging.getLogger(__name__)
SENTENCE_PREFIX = "embed_sentence:"
SUGGEST_CUTOFF = 0.75  # difflib ratio: lower suggests noise ("sentiment" -> "en.embed_sentence")
HF_PREFIX = "hf:"
_HF_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?"
_HF_ID = re.compile(rf"^(?:{_HF_PART}/)?{_HF_PART}$")
_NOT_WORD = re.compile(r"[^A-Za-z0-9_]+")
_HELP = (
    "List the catalogue with easynlu.models() (e.g. easynlu.models('*bert*')). "
    "'hf:ORG/NAME' loads any Hugging Face encoder, and a directory path loads a model saved on disk."
)


@dataclass(frozen=True)
class Component:
    """One model of a pipeline, resolved but not loaded."""

    ref: str  # canonical ref; "hf:ORG/NAME" for hub models; the absolute path for directories
    action: Literal["embed", "embed_sentence"]
    model: str  # Hugging Face model id, or the absolute local directory path
    source: Literal["catalogue", "hf", "path"]
    column: str  # output column name
    entry: Entry | None = None
    requested: str = field(default="", compare=False)  # the name as typed, for catalogue components


def column_name(ref: str) -> str:
    """The embeddings column for a canonical ref, an ``hf:`` ref or a directory path.

    ``en.embed.bert.small_L12_128`` -> ``en_embed_bert_small_L12_128_embeddings``;
    ``hf:google/bert_uncased_L-2_H-128_A-2`` -> ``hf_google_bert_uncased_L_2_H_128_A_2_embeddings``;
    ``/models/my-bert`` -> ``my_bert_embeddings``.
    """
    if not ref.lower().startswith(HF_PREFIX) and ("/" in ref or "\\" in ref):
        base = re.split(r"[/\\]", ref.rstrip("/\\"))[-1]
        name = _NOT_WORD.sub("_", base).strip("_") or "model"
    else:
        name = _NOT_WORD.sub("_", ref)
    return f"{name}_embeddings"


def resolve(request: str | os.PathLike[str], *, path: bool = False) -> tuple[Component, ...]:
    """Resolve a request of one or more whitespace-separated references, in order.

    A ``pathlib.Path``, ``path=True``, or a whole request naming an existing directory, is one
    local model even when its path holds spaces. Raises ModelPathNotFoundError (a
    FileNotFoundError) for a path that does not exist: a Path, ``path=True``, or a name with a
    path separator or starting with ``.`` or ``~`` (``ORG/NAME``, which may be a Hugging Face id,
    is an UnknownReferenceError). Raises UnknownReferenceError (a KeyError) for a name it cannot
    resolve, with suggestions; OptionError for two different components with the same
    column (a model named twice is kept once); OptionTypeError (a TypeError) for a request
    that is not a string or a path.
    """
    if isinstance(request, os.PathLike):
        request, path = os.fspath(request), True
    if not isinstance(request, str):
        raise OptionTypeError(f"a model request must be a str or a path, got {type(request).__name__}: "
                              f"write e.g. easynlu.load('en.embed.bert.small_L12_128').")
    if path:
        return (_directory(request, "embed", request),)
    whole = request.strip()
    for prefix in ("", SENTENCE_PREFIX):
        if whole.lower().startswith(prefix) and os.path.isdir(os.path.expanduser(whole[len(prefix):])):
            return (_resolve_one(whole),)
    tokens = request.split()
    if not tokens:
        raise UnknownReferenceError(
            f"Empty model request {request!r}: name at least one model, e.g. 'en.embed' or "
            f"'en.embed.bert.small_L12_128'. {_HELP}",
            ref=request,
        )
    return _unique(request, tokens, [_resolve_one(token) for token in tokens])


def _unique(request: str, tokens: list[str], components: list[Component]) -> tuple[Component, ...]:
    """``components`` with a model named twice kept once (as NLU does); OptionError when two
    different models would make the same column."""
    kept: dict[str, tuple[str, Component]] = {}  # column -> the first token that made it, its component
    for token, comp in zip(tokens, components, strict=True):
        if comp.column not in kept:
            kept[comp.column] = (token, comp)
        elif kept[comp.column][1] == comp:
            _log.info("%s in request %r names %s again: it is loaded once, with one column %s",
                      token, request, comp.ref, comp.column)
        else:
            first, other = kept[comp.column]
            raise OptionError(
                f"{first!r} and {token!r} in request {request!r} both produce the column {comp.column!r} "
                f"({other.action} {other.model} and {comp.action} {comp.model}): drop one, or rename a directory."
            )
    return tuple(comp for _, comp in kept.values())


def _resolve_one(token: str, user_aliases: bool = True) -> Component:
    action: Literal["embed_sentence"] | None = None
    rest = token
    if token.lower().startswith(SENTENCE_PREFIX):
        action, rest = "embed_sentence", token[len(SENTENCE_PREFIX):]
        if not rest:
            raise UnknownReferenceError(
                f"{token!r} names no model: write e.g. 'embed_sentence:hf:ORG/NAME' or "
                f"'embed_sentence:/path/to/model'.",
                ref=token,
            )
    if rest.lower().startswith(HF_PREFIX):
        return _hf_component(rest, action or "embed")

    entry = _lookup(rest, token)
    if entry is not None:
        if action is not None:
            same = [e.ref for e in catalogue.for_model(entry.model) if e.action == "embed_sentence"]
            raise UnknownReferenceError(
                f"{token!r}: the prefix {SENTENCE_PREFIX!r} applies to 'hf:' ids and directories only; "
                f"catalogue refs carry their own action."
                + (f" Did you mean {same[0]!r}?" if same else "") + f" {_HELP}",
                ref=token,
                suggestions=tuple(same[:1]),
            )
        return Component(entry.ref, entry.action, entry.model, "catalogue", column_name(entry.ref), entry, rest.strip())

    if user_aliases and action is None and not _looks_like_path(rest):
        target = useraliases.read().get(rest.strip().lower())
        if target is not None:  # a user alias names one canonical ref, hf: id or directory
            return _resolve_one(target, user_aliases=False)

    if os.path.isdir(os.path.expanduser(rest)):
        return _directory(rest, action or "embed", token)
    hub = _hub_component(rest, action)
    if hub is not None:
        return hub
    if _looks_like_path(rest) or action is not None:
        if _HF_ID.match(rest) and not rest.startswith((".", "~")):  # ORG/NAME: a Hub id or a directory
            where = os.path.abspath(os.path.expanduser(rest))
            close = suggest(rest)
            raise UnknownReferenceError(
                f"{token!r} is not a catalogue name, and the directory {where!r} does not exist.{_did_you_mean(close)} "
                f"For a Hugging Face model, write 'hf:{rest}'. {_HELP}", ref=token, suggestions=close)
        return _directory(rest, action or "embed", token)
    raise _unknown(token)


def _directory(rest: str, action: Literal["embed", "embed_sentence"], token: str) -> Component:
    """The local model directory ``rest``; ModelPathNotFoundError if there is nothing there."""
    path = os.path.abspath(os.path.expanduser(rest))
    if os.path.isdir(path):
        return Component(path, action, path, "path", column_name(path))
    if os.path.exists(path):
        raise UnknownReferenceError(f"{token!r}: {path!r} is not a directory: pass the directory of a saved "
                                    f"pipeline or of a model (config.json and weights). {_HELP}", ref=token)
    raise ModelPathNotFoundError(
        f"{token!r}: the path {path!r} does not exist.", path=path,
        fix="pass the directory of a saved pipeline (pipe.save(dir)) or of a model (config.json and weights); "
            "check the spelling and the working directory (" + os.getcwd() + ").")


def _lookup(name: str, token: str) -> Entry | None:
    """The entry ``name`` names: the catalogue, then NLU's table, then both with ``en.`` in front.

    Raises UnknownReferenceError for an NLU ref whose model easynlu cannot load.
    """
    for candidate in (name, "en." + name):
        found = catalogue.lookup(candidate) or catalogue.nlu_lookup(candidate)
        if isinstance(found, catalogue.NotAvailable):
            raise UnknownReferenceError(
                f"{token!r}: NLU's ref {found.nlu_ref!r} loads the Spark NLP model {found.spark!r} "
                f"({found.language}), which easynlu cannot load: {found.reason}. If you know the Hugging Face "
                f"checkpoint, load it with 'hf:ORG/NAME'. {_HELP}",
                ref=token,
            )
        if found is not None:
            return found
    return None


@functools.lru_cache(maxsize=1)
def _hub_names() -> dict[str, str]:
    """Each catalogue model's Hugging Face id and its last part, lowercased -> the id."""
    names: dict[str, str] = {}
    for entry in catalogue.entries().values():
        names.setdefault(entry.model.lower(), entry.model)
        names.setdefault(entry.model.split("/")[-1].lower(), entry.model)
    return names


def _hub_component(name: str, action: Literal["embed_sentence"] | None) -> Component | None:
    """The catalogue entry whose Hugging Face id is ``name`` (or its last part), or None.

    Its ``embed`` entry unless ``action`` says otherwise; an ``hf:`` component when the catalogue
    has no entry for that action.
    """
    model = _hub_names().get(name.strip().lower())
    if model is None:
        return None
    wanted = action or "embed"
    entries = catalogue.for_model(model)
    entry = next((e for e in entries if e.action == wanted), None)
    if entry is None:
        return _hf_component(HF_PREFIX + model, wanted) if action else None
    others = [e.ref for e in entries if e is not entry]
    _log.info("%s is the Hugging Face model %s: loading its catalogue entry %s%s", name.strip(), model, entry.ref,
              f" (also: {', '.join(others)})" if others else "")
    return Component(entry.ref, entry.action, entry.model, "catalogue", column_name(entry.ref), entry, name.strip())


def _hf_component(token: str, action: Literal["embed", "embed_sentence"]) -> Component:
    model = token[len(HF_PREFIX):]
    if not _HF_ID.match(model) or "--" in model or ".." in model or len(model) > 96:
        raise UnknownReferenceError(
            f"{token!r} is not a valid Hugging Face reference: expected 'hf:ORG/NAME' (or a legacy "
            f"'hf:NAME'), using letters, digits, '-', '_' and '.', e.g. 'hf:google-bert/bert-base-uncased'.",
            ref=token,
        )
    ref = HF_PREFIX + model
    return Component(ref, action, model, "hf", column_name(ref))


def _looks_like_path(token: str) -> bool:
    return "/" in token or "\\" in token or token.startswith((".", "~"))


def suggest(name: str, n: int = 3) -> tuple[str, ...]:
    """Up to ``n`` names close to ``name``: catalogue names (as given or with ``en.`` in front), and the
    Hugging Face ids of catalogue models (whole, or their last part when ``name`` has no ``/``)."""
    spelled = {x.lower(): x for x in catalogue.names()}
    hub = {key: (model if "/" in key else model.split("/")[-1]) for key, model in _hub_names().items()
           if ("/" in key) == ("/" in name)}
    scores: dict[str, float] = {}
    for query, pool in ((name.lower(), spelled), ("en." + name.lower(), spelled), (name.lower(), hub)):
        for match in difflib.get_close_matches(query, pool, n=n, cutoff=SUGGEST_CUTOFF):
            ratio = difflib.SequenceMatcher(None, query, match).ratio()
            scores[pool[match]] = max(scores.get(pool[match], 0.0), ratio)
    return tuple(sorted(scores, key=lambda m: (-scores[m], m))[:n])


def _did_you_mean(suggestions: tuple[str, ...]) -> str:
    return " Did you mean " + ", ".join(repr(s) for s in suggestions) + "?" if suggestions else ""


def _unknown(token: str) -> UnknownReferenceError:
    suggestions = suggest(token)
    return UnknownReferenceError(
        f"Unknown model reference {token!r}.{_did_you_mean(suggestions)} {_HELP}", ref=token, suggestions=suggestions
    )


# -- user aliases -----------------------------------------------------------------------------
_ALIAS_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def set_alias(name: str, ref: str) -> None:
    """Make ``name`` stand for the single reference ``ref`` in every later ``easynlu.load``.

    Raises OptionError for a bad or catalogue-taken name, or a request of several models;
    UnknownReferenceError when ``ref`` does not resolve.
    """
    if not isinstance(name, str) or not _ALIAS_NAME.match(name):
        raise OptionError(f"alias name {name!r}: use letters, digits, '_', '.' and '-' (no spaces).")
    if any(catalogue.lookup(n) or catalogue.nlu_lookup(n) for n in (name, "en." + name)):
        raise OptionError(f"{name!r} is already a catalogue name; catalogue names always win, so "
                          f"pick another alias name.")
    components = resolve(ref)
    if len(components) != 1:
        raise OptionError(f"an alias stands for one reference, got {len(components)} in {ref!r}.")
    comp = components[0]
    stored = comp.ref  # canonical spelling, hf:ORG/NAME, or the absolute path of a directory
    if comp.source != "catalogue" and comp.action == "embed_sentence":  # keep the prefix's action
        stored = SENTENCE_PREFIX + stored
    useraliases.write({**useraliases.read(), name.lower(): stored})


def remove_alias(name: str) -> None:
    """Delete the user alias ``name``; UnknownReferenceError if there is none."""
    aliases = useraliases.read()
    if name.lower() not in aliases:
        raise UnknownReferenceError(f"No user alias {name!r}; the user aliases are {sorted(aliases) or 'none'}.",
                                    ref=name)
    del aliases[name.lower()]
    useraliases.write(aliases)


__all__ = ["Component", "column_name", "remove_alias", "resolve", "set_alias", "suggest"]
