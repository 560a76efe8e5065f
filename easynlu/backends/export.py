"""Making ONNX exports of model directories (torch): export, fuse, check against torch, cache.

:func:`ensure` gives the export directory of a model directory, made now if exports.py finds none
complete: it imports torch and transformers, runs ``torch.onnx.export(dynamo=True)`` into a
temporary directory beside the final one, fuses its attention blocks (fusion.py), checks its
output against torch (run by onnx.py), and renames it into place (files.writing_dir), under a file
lock, so that a killed or concurrent export never leaves a directory that is later loaded. An
int8 export is quantized (quantize.py) from the float32 one.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import logging
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from .. import files
from ..errors import ModelUnavailableError, OptionError
from . import fusion
from .exports import (
    EXPORT_FORMAT,
    META,
    cached,
    final_dir,
    is_complete,
    model_name,
    onnx_problem,
    read_meta,
)
from .onnx import session
from .quantize import quantize_int8

_TOLERANCE = 1e-3  # largest difference to torch's last hidden state an export may show
_log = logging.getLogger(__name__)


def ensure(path: str, quantize: str | None = None) -> Path:
    """The export directory of the model directory ``path``, exported now if it is not cached.

    Raises OptionError when the model cannot run on ONNX (e.g. sentence-transformers modules
    other than Pooling/Normalize), ModelUnavailableError when the export fails.
    """
    problem = onnx_problem(path)
    if problem:
        raise OptionError(f"The model in {path} cannot run on the ONNX backend: {problem}. "
                          f"Load it with backend='torch'.")
    found = cached(path, quantize)
    if found is not None:
        return found
    from filelock import FileLock

    final = final_dir(path, quantize)
    final.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(final) + ".lock"):
        if is_complete(final):  # another process finished it while we waited
            return final
        base = ensure(path) if quantize else None
        _remove_leftovers(final)
        what = f"quantizing {model_name(path)} to {quantize}" if quantize else f"exporting {model_name(path)} to ONNX"
        _log.info("%s once, into %s", what, final)
        print(f"easynlu: {what} once (later loads reuse it) ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        with files.writing_dir(final) as tmp:  # fsyncs every file, renames it into place
            meta = _quantize(base, tmp, quantize) if base is not None and quantize else _export(path, tmp)
            meta["files"] = {f.name: f.stat().st_size for f in sorted(tmp.iterdir())}
            files.write_json(tmp / META, meta, sort_keys=True)  # last: a directory with a complete meta is complete
        _log.info("%s took %.1f s", what, time.perf_counter() - started)
        return final


def _remove_leftovers(final: Path) -> None:
    """Under the export's lock: drop a partial final directory and temporary ones of killed exports."""
    if final.exists():
        _log.info("removing the incomplete export %s", final)
        shutil.rmtree(final, ignore_errors=True)
    for pattern in (f".{final.name}.tmp-*", f"{final.name}.tmp-*"):  # files.temp_name's, and older easynlu's
        for tmp in final.parent.glob(pattern):
            shutil.rmtree(tmp, ignore_errors=True)


# -- making one -------------------------------------------------------------------------------
def _export(path: str, out: Path) -> dict[str, Any]:
    """Export the model in ``path`` into the empty directory ``out``; the meta (without its file list)."""
    from .transformer import load

    backend = load(path, "cpu", "float32")
    names = ["last_hidden_state"] + (["pooler_output"] if backend.has_pooler else [])
    names += [f"hidden_{i}" for i in range(backend.n_layers + 1)]
    inputs = ["input_ids", "attention_mask"] + (["token_type_ids"] if backend.takes_types else [])
    ids, mask = _example(backend)
    raw = out / "torch"
    raw.mkdir()
    _run_exporter(backend, raw / "model.onnx", inputs, names, ids, mask)
    fused = _fuse(raw / "model.onnx", out / "model.onnx", int(backend.model.config.num_attention_heads))
    backend.rust_tokenizer.save(str(out / "tokenizer.json"))
    meta = _meta(backend, inputs, names, fused)
    try:
        _check_against_torch(backend, out, ids, mask)
    except ModelUnavailableError:
        if not fused:
            raise
        _log.warning("the fused attention of %s differs from torch: exporting it unfused", path)
        meta["fused_attention"] = _fuse(raw / "model.onnx", out / "model.onnx", 0)
        _check_against_torch(backend, out, ids, mask)
    shutil.rmtree(raw)
    return meta


def _example(backend: Any) -> tuple[Any, Any]:
    """The example batch (ids, mask) to trace and check with: a short text, and a padded shorter one."""
    import numpy as np

    words = backend.rust_tokenizer.encode("the day is good, hello", add_special_tokens=False).ids[:6]
    ids = np.array([[*backend.prefix, *words, *backend.suffix],
                    [*backend.prefix, *words[:2], *backend.suffix, *[backend.pad_id] * (len(words) - 2)]],
                   dtype=np.int64)
    mask = (np.arange(ids.shape[1]) < np.array([[ids.shape[1]], [ids.shape[1] - len(words) + 2]])).astype(np.int64)
    return ids, mask


def _run_exporter(backend: Any, file: Path, inputs: list[str], names: list[str], ids: Any, mask: Any) -> None:
    """``torch.onnx.export(dynamo=True)`` of the loaded ``backend`` to ``file``, quietly; batch and sequence dynamic."""
    import numpy as np
    import torch

    example = tuple(torch.from_numpy(a) for a in (ids, mask, np.zeros_like(ids))[: len(inputs)])
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence", max=backend.max_length)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            logging.getLogger("torch.onnx").setLevel(logging.ERROR)
            torch.onnx.export(
                _outputs_module(backend.model, backend.has_pooler), example, str(file),
                dynamo=True, input_names=inputs, output_names=names,
                dynamic_shapes={name: {0: batch, 1: seq} for name in inputs}, verbose=False)
    except Exception as err:  # the exporter raises many kinds
        raise ModelUnavailableError(
            f"Cannot export the model in {backend.path} to ONNX ({type(err).__name__}: {str(err)[:500]}).",
            fix="load it with backend='torch'") from err


def _meta(backend: Any, inputs: list[str], names: list[str], fused: int) -> dict[str, Any]:
    """What the ONNX backend needs to know of the exported model (easynlu-onnx.json, less its file list)."""
    import torch

    sentence = backend.sentence
    return {
        "format": EXPORT_FORMAT,
        "source": os.path.realpath(backend.path),
        "quantize": None,
        "versions": {"torch": torch.__version__, "transformers": importlib.metadata.version("transformers"),
                     "onnx": importlib.metadata.version("onnx")},
        "inputs": inputs,
        "outputs": names,
        "prefix": backend.prefix,
        "suffix": backend.suffix,
        "pad_id": int(backend.pad_id),
        "max_length": int(backend.max_length),
        "window": int(backend.window),
        "dim": backend.dim,
        "n_layers": backend.n_layers,
        "takes_types": backend.takes_types,
        "has_pooler": backend.has_pooler,
        "fused_attention": fused,
        "sentence": None if sentence is None else {
            "modes": list(sentence.modes), "normalize": sentence.normalize,
            "max_seq_length": sentence.max_length, "dim": sentence.dim},
    }


def _fuse(src: Path, dst: Path, num_heads: int) -> int:
    """Write ``src`` to ``dst`` (weights in ``model.onnx.data``) with its attention fused; how many blocks were.

    ``num_heads=0`` writes it unfused.
    """
    import onnx

    model = onnx.load(str(src))
    count = 0
    if num_heads:
        try:
            count = fusion.fuse_attention(model, num_heads)
        except Exception as err:  # noqa: BLE001 - an unforeseen graph: the unfused export still runs
            _log.warning("cannot fuse the attention of %s (%s: %s): exporting it unfused", src, type(err).__name__, err)
            model = onnx.load(str(src))
    data = dst.with_name(dst.name + ".data")
    onnx.save(model, str(dst), save_as_external_data=True, all_tensors_to_one_file=True,
              location=data.name, size_threshold=1024)
    if data.exists():  # onnx (1.23) creates it 0600: give it model.onnx's mode, the user's umask
        shutil.copymode(dst, data)
    return count


def _outputs_module(model: Any, has_pooler: bool) -> Any:
    """A torch module giving the encoder's outputs as a flat tuple: last, [pooler], every layer."""
    import torch

    class Outputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> tuple:
            extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True,
                             return_dict=True, **extra)
            pooler = (out.pooler_output,) if has_pooler else ()
            return (out.last_hidden_state, *pooler, *out.hidden_states)

    return Outputs().eval()


def _check_against_torch(backend: Any, out: Path, ids: Any, mask: Any) -> None:
    """Refuse an export whose last hidden state differs from torch's on the example batch."""
    import numpy as np
    import torch

    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    check = session(out / "model.onnx", 1)
    got = check.run(["last_hidden_state"], {i.name: feed[i.name] for i in check.get_inputs()})[0]
    with torch.inference_mode():
        want = backend.forward(ids, mask).last_hidden_state.float().numpy()
    real = mask.astype(bool)
    diff = float(np.abs(got[real] - want[real]).max())
    if not diff <= _TOLERANCE:
        raise ModelUnavailableError(
            f"The ONNX export of {backend.path} gives vectors that differ from torch's by {diff:.2g}.",
            fix="load it with backend='torch'")


def _quantize(base: Path, out: Path, quantize: str) -> dict[str, Any]:
    """Quantize the export in ``base`` into ``out``; the meta (without its file list)."""
    quantize_int8(base / "model.onnx", out / "model.onnx")
    shutil.copy(base / "tokenizer.json", out / "tokenizer.json")
    meta = read_meta(base)
    meta.pop("files", None)
    meta["quantize"] = quantize
    return meta
