"""Students and their targets: a layer subset of the teacher, any model directory, and projected targets.

A student is a ``SentenceTransformer`` read from a model directory: a sentence-transformers directory
keeps its own modules; a plain encoder (a BERT miniature) gets mean pooling, and the teacher's
normalisation when the teacher normalises. A layer-subset student is the teacher itself with only the
chosen encoder layers kept, so it starts from the teacher's weights and has its width. A student
narrower than the teacher learns the teacher's vectors projected on their first principal
components, as sentence-transformers' distillation example does with a PCA ``Dense`` layer on the
teacher: the student stays a plain encoder plus pooling, which both of easynlu's backends run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError, OptionError
from ..pooling import l2_normalize

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

UNK_LIMIT = 0.05  # a student tokenizer that reads more of the texts as [UNK] cannot learn them


def is_normalized(model: SentenceTransformer) -> bool:
    """Whether the model's last module is Normalize (its vectors are unit length)."""
    return type(list(model.children())[-1]).__name__ == "Normalize"


def st_module(name: str) -> Any:
    """sentence-transformers' ``losses`` or ``modules`` (``models`` before version 6, where they moved)."""
    import importlib

    try:
        return importlib.import_module(f"sentence_transformers.sentence_transformer.{name}")
    except ModuleNotFoundError:
        return importlib.import_module(f"sentence_transformers.{'models' if name == 'modules' else name}")


def width(model: SentenceTransformer) -> int:
    """The model's sentence vector size (sentence-transformers 6 renamed the getter)."""
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter() or 0)


def load(path: str, max_seq_length: int | None = None, normalize: bool = False,
         device: str | None = None) -> SentenceTransformer:
    """The model in ``path`` as a SentenceTransformer: its own modules, or encoder + mean pooling (+ Normalize)."""
    from sentence_transformers import SentenceTransformer

    models = st_module("modules")
    if os.path.isfile(os.path.join(path, "modules.json")):
        model = SentenceTransformer(path, device=device, trust_remote_code=False)
    else:
        encoder = models.Transformer(path, max_seq_length=max_seq_length)
        # sentence-transformers 6 renamed get_word_embedding_dimension to get_embedding_dimension
        dim = getattr(encoder, "get_embedding_dimension", None) or encoder.get_word_embedding_dimension
        dim = dim()
        modules: list[Any] = [encoder, models.Pooling(dim, "mean")]
        if normalize:
            modules.append(models.Normalize())
        model = SentenceTransformer(modules=modules, device=device)
    if max_seq_length and not model.max_seq_length:
        model.max_seq_length = max_seq_length
    return model


def layer_subset(teacher_path: str, layers: Sequence[int], device: str | None = None) -> SentenceTransformer:
    """The teacher with only ``layers`` of its encoder kept (in the order given), starting from its weights.

    Raises OptionError for an empty list, a repeated layer, or a layer the teacher lacks.
    """
    import torch

    teacher = load(teacher_path, device=device)
    encoder = _bert_encoder(teacher)
    have = len(encoder.layer)
    chosen = list(layers)
    if not chosen or any(not isinstance(i, int) or isinstance(i, bool) for i in chosen):
        raise OptionError(f"layers={layers!r}: pass a list of the teacher's layer numbers, e.g. [0, 3, 5] "
                          f"(it has {have}: 0..{have - 1}).")
    if len(set(chosen)) != len(chosen) or any(not -have <= i < have for i in chosen):
        raise OptionError(f"layers={layers!r}: each layer once, each in 0..{have - 1} (the teacher has {have} "
                          f"layers); e.g. layers=[0, 3, 5].")
    encoder.layer = torch.nn.ModuleList([encoder.layer[i] for i in chosen])
    auto: Any = teacher[0].auto_model
    config = auto.config
    config.num_hidden_layers = len(chosen)
    for number, layer in enumerate(encoder.layer):  # attention caches index layers by position
        attention = getattr(getattr(layer, "attention", None), "self", None)
        if attention is not None and hasattr(attention, "layer_idx"):
            attention.layer_idx = number
    return teacher


def _bert_encoder(model: SentenceTransformer) -> Any:
    auto = model[0].auto_model
    encoder = getattr(auto, "encoder", None)
    if encoder is None or not hasattr(encoder, "layer"):
        raise OptionError(f"layers= needs a BERT-like teacher (encoder.layer), not {type(auto).__name__}: pass a "
                          f"student= model instead.")
    return encoder


def check_tokenizer(student: SentenceTransformer, texts: Sequence[str], teacher_path: str) -> None:
    """Refuse a student whose tokenizer reads the texts as [UNK] (another language or script than its vocab).

    A student with another tokenizer than the teacher's is fine otherwise: each model reads the
    texts with its own tokenizer, and only the teacher's vectors are passed on.
    """
    tokenizer = student.tokenizer
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is None or not texts:
        return
    ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    total = sum(len(row) for row in ids)
    unknown = sum(row.count(unk) for row in ids)
    if total and unknown / total > UNK_LIMIT:
        raise InputError(f"The student's tokenizer reads {unknown / total:.0%} of the texts' tokens as "
                         f"{tokenizer.unk_token} (more than {UNK_LIMIT:.0%}): its vocabulary does not cover these "
                         f"texts, so it cannot learn the teacher ({teacher_path}) on them. Pick a student whose "
                         f"vocabulary covers their language, or a layer subset of the teacher (layers=[...]).")


def pca_projection(vectors: np.ndarray, dim: int) -> np.ndarray:
    """The first ``dim`` principal axes of ``vectors`` (rows), as a (dim, teacher_dim) float32 matrix."""
    sample = np.asarray(vectors[: min(len(vectors), 20000)], dtype=np.float64)
    if len(sample) < dim:
        raise InputError(f"A student of width {dim} narrower than the teacher's {vectors.shape[1]} needs at least "
                         f"{dim} texts to fit its projection; got {len(sample)}. Pass more texts.")
    centered = sample - sample.mean(axis=0)
    _, _, axes = np.linalg.svd(centered, full_matrices=False)
    axes = axes[:dim]
    signs = np.sign(axes[np.arange(dim), np.abs(axes).argmax(axis=1)])  # as sklearn's svd_flip: one sign per axis
    return np.ascontiguousarray(axes * signs[:, None], dtype=np.float32)


def project(vectors: np.ndarray, axes: np.ndarray | None, normalize: bool) -> np.ndarray:
    """Teacher vectors as the student's targets: projected on ``axes`` (if any), re-normalised if asked."""
    out = np.asarray(vectors, dtype=np.float32)
    if axes is not None:
        out = out @ axes.T
        if normalize:
            l2_normalize(out)  # a new array: the projection made it
    return out
