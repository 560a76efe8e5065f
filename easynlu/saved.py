"""Save a pipeline with its model files to a directory, and load it back with no network or HF cache.

A saved pipeline is a directory holding ``easynlu.json`` (the manifest: components, load
options and the sha256 of every file) and ``models/<n>-<name>/`` (one copy of each model's
config, tokenizer, weights and sentence-transformers files). ``load`` checks every digest
before anything loads, so a corrupted or tampered copy is refused, naming the file.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import catalogue, digests, sources
from .errors import ModelUnavailableError, OptionError
from .files import writing_dir  # not `files`: save() has a local of that name
from .options import LOAD_NAMES, LoadOptions
from .resolve import Component
from .version import __version__

if TYPE_CHECKING:
    from .protocol import Embedder

MANIFEST = "easynlu.json"
FORMAT = 1
_MODELS_DIR = "models"
_WEIGHTS_BIN = "pytorch_model*.bin"
_TOKENIZER_FILES = ("vocab.txt", "merges.txt")
_NOT_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FIX = "save the pipeline again with pipe.save(dir)"


def is_saved_pipeline(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a directory holding an ``easynlu.json`` manifest (a saved pipeline)."""
    return os.path.isfile(os.path.join(os.path.expanduser(os.fspath(path)), MANIFEST))


# -- save ------------------------------------------------------------------------------------
def save(pipe: Embedder, directory: str | os.PathLike[str]) -> Path:
    """Write ``pipe`` and its model files to ``directory``; returns its absolute path.

    The pipeline then loads with ``easynlu.load(directory)`` on a machine with no network and
    no Hugging Face cache. The files are written into a temporary directory beside
    ``directory`` and renamed into place at the end, so a crash never leaves a half-written
    pipeline. An earlier easynlu save in ``directory`` is replaced.

    Raises OptionError when ``directory`` is a file or a non-empty directory that is not an
    easynlu save; ModelUnavailableError when a component's model files cannot be found.
    """
    target = Path(directory).expanduser().absolute()
    _check_target(target)
    sources_dirs = [sources.locate(c.source, c.model, offline=pipe.offline) for c in pipe.components]
    placed = pipe.placement
    with writing_dir(target, replace=True) as tmp:  # an earlier save is swapped out at the end
        files: dict[str, str] = {}
        copies: dict[Path, str] = {}  # resolved source directory -> its relative copy
        entries = []
        for n, (comp, src) in enumerate(zip(pipe.components, sources_dirs, strict=True)):
            key = src.resolve()
            if key not in copies:
                copies[key] = f"{_MODELS_DIR}/{n}-{_safe_name(comp)}"
                files.update(_copy_files(src, _model_files(src), tmp, copies[key]))
                if placed.backend_for(str(src)) == "onnx":  # the export too, so the save runs without torch
                    from .backends.export import ensure
                    from .backends.exports import bundled

                    export = ensure(str(src), placed.quantize)
                    rel = bundled(copies[key], placed.quantize).as_posix()
                    files.update(_copy_files(export, sorted(f.name for f in export.iterdir() if f.is_file()), tmp, rel))
            entries.append({"ref": comp.ref, "action": comp.action, "model": comp.model,
                            "source": comp.source, "column": comp.column, "dir": copies[key]})
        manifest = {
            "format": FORMAT,
            "easynlu_version": __version__,
            "components": entries,
            "default_level": pipe.default_level,
            **_options_to_save(pipe.load_options),
            "files": dict(sorted(files.items())),
        }
        with open(tmp / MANIFEST, "w", encoding="utf-8") as f:  # last: its presence marks a complete save
            json.dump(manifest, f, indent=2)
            f.write("\n")
    return target


def _check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise OptionError(f"Cannot save the pipeline to {target}: it is a file. "
                          f"Pass a new or empty directory, e.g. pipe.save('{target}-pipeline').")
    if target.is_dir() and any(target.iterdir()) and not is_saved_pipeline(target):
        raise OptionError(f"Cannot save the pipeline to {target}: the directory is not empty and is not an "
                          f"easynlu save, so easynlu will not overwrite it. Pass a new or empty directory, "
                          f"or delete {target} first.")


def _safe_name(comp: Component) -> str:
    base = os.path.basename(comp.model.rstrip("/\\")) if comp.source == "path" else comp.model.replace("/", "--")
    return _NOT_SAFE.sub("_", base).strip("._")[:80] or "model"


def _model_files(src: Path) -> list[str]:
    """The files (relative, posix) a model needs: config, tokenizer, weights, sentence-transformers."""
    top = sorted(p.name for p in src.iterdir() if p.is_file() and not p.name.startswith("."))
    keep = [n for n in top if n.endswith((".json", ".model")) or n.startswith("tokenizer") or n in _TOKENIZER_FILES]
    if "model.safetensors" in top:
        keep.append("model.safetensors")
    elif any(n.endswith(".safetensors") for n in top):
        keep += [n for n in top if n.endswith(".safetensors")]
    else:
        keep += [p.name for p in sorted(src.glob(_WEIGHTS_BIN)) if p.is_file()]
    for folder in _module_folders(src):
        for root, dirs, names in os.walk(src / folder, followlinks=True):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            rel = Path(root).relative_to(src)
            keep += [(rel / n).as_posix() for n in sorted(names) if not n.startswith(".")]
    return list(dict.fromkeys(keep))


def _module_folders(src: Path) -> list[str]:
    """The sentence-transformers module folders listed in modules.json that exist inside ``src``."""
    try:
        modules = json.loads((src / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    folders = []
    for module in modules if isinstance(modules, list) else []:
        path = module.get("path") if isinstance(module, dict) else None
        if not isinstance(path, str) or not path or os.path.isabs(path) or ".." in Path(path).parts:
            continue
        if (src / path).is_dir():
            folders.append(Path(path).as_posix())
    return folders


def _copy_files(src: Path, names: list[str], tmp: Path, rel_dir: str) -> dict[str, str]:
    """Copy ``names`` of ``src`` (their contents, never symlinks) into ``tmp/rel_dir``; path -> sha256."""
    import hashlib

    digests = {}
    for name in names:
        dest = tmp / rel_dir / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        digest, buffer = hashlib.sha256(), bytearray(1 << 20)
        view = memoryview(buffer)
        with open(src / name, "rb") as fin, open(dest, "wb") as fout:  # open() follows symlinks
            while n := fin.readinto(buffer):
                digest.update(view[:n])
                fout.write(view[:n])
        digests[f"{rel_dir}/{name}"] = digest.hexdigest()
    return digests


def _options_to_save(options: LoadOptions) -> dict[str, Any]:
    """The load options a save keeps (all but ``offline``: a saved pipeline always loads offline)."""
    return {name: getattr(options, name) for name in LOAD_NAMES if name != "offline"}


# -- load ------------------------------------------------------------------------------------
def read(directory: str | os.PathLike[str]) -> tuple[list[Component], LoadOptions]:
    """The components and load options of the pipeline saved in ``directory`` by ``save``, offline.

    Every file's sha256 is checked against the manifest first. The components keep their saved
    refs, actions and output columns, and read their files from the save; the options are the
    saved ones with ``offline=True`` (``easynlu.load`` applies the caller's options over them).
    Raises ModelUnavailableError for a missing, changed or unlisted file, or a manifest that is
    missing, malformed or from a newer easynlu; OptionError for saved options this easynlu refuses.
    """
    root = Path(directory).expanduser().absolute()
    manifest = _read_manifest(root)
    _verify(root, manifest["files"])
    components = [_component(root, c) for c in manifest["components"]]
    saved = {name: manifest[name] for name in LOAD_NAMES if name in manifest and name != "offline"}
    return components, LoadOptions(**saved, offline=True)


def _read_manifest(root: Path) -> dict[str, Any]:
    file = root / MANIFEST
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ModelUnavailableError(f"{root} is not a saved easynlu pipeline: it has no {MANIFEST}.",
                                    fix="save one with pipe.save(dir), then easynlu.load(dir)") from err
    except (OSError, ValueError) as err:
        raise ModelUnavailableError(f"{file} cannot be read ({err}).", fix=_FIX) from err
    if not isinstance(manifest, dict):
        raise _malformed(file, "it is not a JSON object")
    fmt, version = manifest.get("format"), manifest.get("easynlu_version", "unknown")
    if isinstance(fmt, int) and not isinstance(fmt, bool) and fmt > FORMAT:
        raise ModelUnavailableError(
            f"{file} was written by easynlu {version} in save format {fmt}; this easynlu "
            f"({__version__}) reads format {FORMAT} only.",
            fix="upgrade easynlu (pip install -U easynlu), or save the pipeline again with this version")
    if fmt != FORMAT:
        raise _malformed(file, f"its format {fmt!r} is not an easynlu save format (expected {FORMAT})")
    files, comps = manifest.get("files"), manifest.get("components")
    if not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and _SHA256.match(v) for k, v in files.items()):
        raise _malformed(file, "'files' is not a mapping of relative paths to sha256 digests")
    if not isinstance(comps, list) or not comps or not all(_valid_component(c, files) for c in comps):
        raise _malformed(file, "'components' is not a non-empty list of saved components")
    return manifest


def _valid_component(comp: Any, files: dict[str, str]) -> bool:
    if not isinstance(comp, dict) or comp.get("action") not in catalogue.ACTIONS:
        return False
    if not all(isinstance(comp.get(k), str) for k in ("ref", "column", "dir")):
        return False
    return any(name.startswith(comp["dir"].rstrip("/") + "/") for name in files)


def _malformed(file: Path, why: str) -> ModelUnavailableError:
    return ModelUnavailableError(f"{file} is not a valid easynlu manifest: {why}.", fix=_FIX)


def _inside(root: Path, rel: str) -> Path:
    """``root / rel``, refusing a path that is absolute or leaves ``root``."""
    parts = Path(rel).parts
    if not rel or os.path.isabs(rel) or ".." in parts or Path(rel).drive:
        raise _malformed(root / MANIFEST, f"the path {rel!r} is outside the saved pipeline")
    return root.joinpath(*parts)


def _verify(root: Path, files: dict[str, str]) -> None:
    """Check every listed file's sha256, and that no unlisted file sits among the models."""
    paths = {rel: _inside(root, rel) for rel in files}
    for path in paths.values():
        if not path.is_file():
            raise ModelUnavailableError(f"{path} is missing from the saved pipeline in {root}.", fix=_FIX)
        digests.file_sha256(path, wait=False)  # hash the files in parallel
    for rel, expected in files.items():
        found = digests.file_sha256(paths[rel])
        if found != expected:
            raise ModelUnavailableError(
                f"{paths[rel]} does not match the sha256 in {root / MANIFEST} (expected {expected}, "
                f"found {found}): the file changed after it was saved; easynlu refuses to load it.", fix=_FIX)
    listed = set(paths.values())
    for dirpath, dirs, names in os.walk(root / _MODELS_DIR):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            path = Path(dirpath) / name
            if not name.startswith(".") and path not in listed:
                raise ModelUnavailableError(
                    f"{path} is not listed in {root / MANIFEST}: files were added after the pipeline was "
                    f"saved; easynlu refuses to load them.", fix=f"delete {path}, or {_FIX}")


def _component(root: Path, saved: dict[str, Any]) -> Component:
    """The saved component, reading its files from the save (a ``path`` source)."""
    ref = saved["ref"]
    entry = catalogue.lookup(ref) if saved.get("source") == "catalogue" else None
    model = str(_inside(root, saved["dir"]))
    return Component(ref, saved["action"], model, "path", saved["column"], entry)
