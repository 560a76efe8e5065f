"""sentence-transformers models: the model's own pooling and normalisation, read from its files.

A sentence-transformers directory is a transformers encoder plus ``modules.json`` listing what
runs after it. The common pipeline (Transformer -> Pooling -> optional Normalize) is applied
here directly on our batches, so it pays neither sentence_transformers' ~5 s import nor its
character-length batching. Any other module list is run by sentence_transformers itself, on
the token embeddings our encoder produced. Reading the files imports no torch, and ``pool_numpy``
is the same pooling for the ONNX backend.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ModelUnavailableError
from ..pooling import l2_normalize

if TYPE_CHECKING:
    import torch


_NATIVE_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens")
_LEGACY_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


def is_sentence_transformers_dir(path: str) -> bool:
    """Whether ``path`` is a sentence-transformers model (it lists its modules in modules.json)."""
    return os.path.isfile(os.path.join(path, "modules.json"))


def _read(path: str, name: str) -> dict:
    file = os.path.join(path, name)
    if not os.path.isfile(file):
        return {}
    with open(file, encoding="utf-8") as f:
        return json.load(f)


class SentencePooling:
    """Turns a batch's last hidden states into the model's sentence vectors."""

    def __init__(self, path: str):
        self.path = path
        self.modules = _read(path, "modules.json")
        self.max_length = _read(path, "sentence_bert_config.json").get("max_seq_length")
        kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in self.modules]
        self.normalize = kinds[-1:] == ["Normalize"]
        core = kinds[:-1] if self.normalize else kinds
        self.modes: tuple[str, ...] = ()
        if core == ["Transformer", "Pooling"]:
            config = _read(path, os.path.join(self.modules[1].get("path", ""), "config.json"))
            self.modes = _pooling_modes(config)
        self.native = bool(self.modes) and all(m in _NATIVE_MODES for m in self.modes)
        self._after: torch.nn.Module | None = None
        self.dim = 0  # set by attach()

    def attach(self, hidden_size: int, device: str) -> SentencePooling:
        """Bind to the loaded encoder (its hidden size and device): learn the vector size, load non-native modules."""
        self.dim = hidden_size * max(len(self.modes), 1)
        if not self.native:
            self._load_modules(device)
        return self

    def _load_modules(self, device: str) -> None:
        from sentence_transformers import SentenceTransformer

        try:
            model = SentenceTransformer(self.path, device=str(device), trust_remote_code=False)
        except Exception as err:  # a module's files missing or broken
            raise ModelUnavailableError(
                f"Cannot load the sentence-transformers modules listed in {self.path}/modules.json "
                f"({type(err).__name__}: {err}).",
                fix="save the model again with SentenceTransformer.save(dir), or load it as a token "
                    "model with an explicit pooling") from err
        import torch

        self._after = torch.nn.Sequential(*list(model.children())[1:]).eval()
        # sentence-transformers 6 renamed get_sentence_embedding_dimension to get_embedding_dimension
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(getter() or self.dim)
        del model

    def pool(self, out: Any, mask: torch.Tensor) -> torch.Tensor:
        """One sentence vector per row of the batch, from the encoder's output and the mask."""
        import torch
        import torch.nn.functional as F

        tokens = out.last_hidden_state
        if self._after is not None:
            features = {"token_embeddings": tokens, "attention_mask": mask}
            return self._after(features)["sentence_embedding"].float()
        tokens = tokens.float()
        weights = mask.unsqueeze(-1).to(tokens.dtype)
        vectors = []
        for mode in self.modes:
            if mode == "cls":
                vectors.append(tokens[:, 0])
            elif mode == "max":
                vectors.append(tokens.masked_fill(weights == 0, float("-inf")).max(dim=1).values)
            else:
                total = (tokens * weights).sum(dim=1)
                count = torch.clamp(weights.sum(dim=1), min=1e-9)
                vectors.append(total / (count if mode == "mean" else torch.sqrt(count)))
        vector = torch.cat(vectors, dim=-1)
        return F.normalize(vector, p=2, dim=-1) if self.normalize else vector


def _pooling_modes(config: dict) -> tuple[str, ...]:
    mode = config.get("pooling_mode")
    if mode is not None:
        return (mode,) if isinstance(mode, str) else tuple(mode)
    return tuple(name for key, name in _LEGACY_KEYS.items() if config.get(key))


def pool_numpy(tokens: np.ndarray, mask: np.ndarray, modes: tuple[str, ...], normalize: bool) -> np.ndarray:
    """:meth:`SentencePooling.pool` for native modes, in numpy: ``tokens`` (batch, positions, dim), ``mask`` 0/1."""
    weights = mask[:, :, None].astype(np.float32)
    vectors = []
    for mode in modes:
        if mode == "cls":
            vectors.append(tokens[:, 0])
        elif mode == "max":
            vectors.append(np.where(weights == 0, -np.inf, tokens).max(axis=1).astype(np.float32))
        else:
            total = (tokens * weights).sum(axis=1)
            count = np.maximum(weights.sum(axis=1), 1e-9)
            vectors.append(total / (count if mode == "mean" else np.sqrt(count)))
    vector = np.concatenate(vectors, axis=-1).astype(np.float32)  # a new array: normalised in place
    return l2_normalize(vector) if normalize else vector
