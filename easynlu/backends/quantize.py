"""Dynamic int8 quantisation of an fp32 ONNX export of a BERT. No torch or transformers here.

onnxruntime's ``quantize_dynamic`` stores the chosen weights as int8 with a scale per output
column (``per_channel``) and quantises activations to uint8 on the fly, batch by batch. Which
weights to quantise decides the quality; ``benchmarks/quality.py --variants`` measures each choice
(it makes the variants itself); :data:`METHOD` is the one easynlu uses.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from .. import files
from ..errors import ModelUnavailableError

# Roles of the weight matmuls of a BERT layer, as :func:`matmul_roles` names them.
ROLES = ("qkv", "attn_out", "ffn_up", "ffn_down", "pooler")

# The chosen method (see QUALITY_NOTE and benchmarks/RESULTS.md for the figures behind it).
# The pooler (one [CLS] row per text, a negligible share of the time) stays fp32: only BERT's
# pooler-based sentence vectors read it, and they get its exact value.
METHOD: dict[str, Any] = {"per_channel": True, "reduce_range": False, "weight_type": "QInt8",
                          "keep_fp32": ("pooler",)}

# Bumped whenever METHOD or the graph rewriting changes: part of the int8 export's cache key.
VERSION = 1

# Measured by benchmarks/quality.py on all-MiniLM-L6-v2, 2,048 corpus sentences + 256 documents.
QUALITY_NOTE = ("int8: cosine to float32 vectors min 0.983 (mean 0.9932) on 2,048 sentences of all-MiniLM-L6-v2, "
                "89% of nearest neighbours (top 10) kept; use quantize=None for exact float32")


def matmul_roles(model: Any) -> dict[str, tuple[str, int]]:
    """``{node name: (role, layer)}`` for each MatMul or Gemm by a constant weight in an ONNX BERT graph.

    Roles come from the weight's shape and what feeds or follows the node, not from names (the
    exporter numbers its nodes): ``ffn_up`` is hidden -> 4 x hidden-like (wider out than in),
    ``ffn_down`` the reverse, a square one fed by a LayerNormalization is ``qkv``, a square one
    whose output reaches a Tanh is the ``pooler``, and other square ones are ``attn_out``. The
    layer counts ``ffn_down`` nodes seen before, in graph order (the pooler gets the last + 1).
    torch exports the pooler's dense layer as a Gemm, which onnxruntime's dynamic quantisation
    turns into a MatMul named ``<name>_MatMul`` and quantises like the others.
    """
    from .fusion import index

    consts, producer, consumers = index(model.graph)  # weights: initializers or Constant nodes
    shapes = {name: value.shape for name, value in consts.items()}

    def reaches_tanh(name: str, depth: int = 3) -> bool:
        for node in consumers.get(name, []):
            if node.op_type == "Tanh" or (depth > 0 and any(reaches_tanh(o, depth - 1) for o in node.output)):
                return True
        return False

    roles: dict[str, tuple[str, int]] = {}
    layer = 0
    for node in model.graph.node:
        if node.op_type not in ("MatMul", "Gemm") or len(node.input) < 2:
            continue
        shape = shapes.get(node.input[1])
        if shape is None or len(shape) != 2:
            continue  # activation x activation (attention scores): never quantised dynamically here
        transposed = node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute)
        cols, rows = shape if transposed else shape[::-1]
        if cols > rows:
            role = "ffn_up"
        elif rows > cols:
            role = "ffn_down"
        elif reaches_tanh(node.output[0]):
            role = "pooler"
        else:
            source = producer.get(node.input[0])
            role = "qkv" if source is not None and source.op_type == "LayerNormalization" else "attn_out"
        roles[node.name] = (role, layer)
        if role == "ffn_down":
            layer += 1
    return roles


def quantize_int8(src: Path, dst: Path) -> None:
    """Write a dynamically int8-quantised copy of the fp32 ONNX BERT ``src`` to ``dst`` (one file), atomically.

    Uses :data:`METHOD`, the variant chosen by measured quality at near-equal speed: only MatMuls
    by constant weights are quantised (the embeddings, Gathers, stay fp32), and the roles in its
    ``keep_fp32`` stay fp32 too. ``dst`` is written through a temporary file beside it and renamed
    into place, so an error or a killed process never leaves a partial ``dst``.
    """
    try:
        with files.writing_path(dst) as tmp:
            _quantize_to(Path(src), tmp)
    except Exception as exc:  # noqa: BLE001 - onnx and onnxruntime raise many kinds; say which file and what to do
        raise ModelUnavailableError(
            f"could not quantise {src} to int8: {type(exc).__name__}: {exc}",
            fix="load the model without quantize='int8' (quantize=None runs the float32 ONNX export), "
                "or with backend='torch'",
        ) from exc


def _quantize_to(src: Path, out: Path) -> None:
    """``quantize_dynamic`` of ``src`` into ``out`` with :data:`METHOD`, onnxruntime's advice silenced."""
    import onnx
    from onnxruntime import quantization

    model = onnx.load(os.fspath(src))  # also reads external weight files beside src
    keep = [name for name, (role, _) in matmul_roles(model).items() if role in METHOD["keep_fp32"]]
    keep += [name + "_MatMul" for name in keep]  # the name a Gemm's MatMul gets when onnxruntime splits it
    root = logging.getLogger()  # quantize_dynamic advises pre-processing through the root logger
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        quantization.quantize_dynamic(
            model,  # a ModelProto: onnxruntime's shape inference then runs in its own temp dir, not beside src
            out,
            op_types_to_quantize=["MatMul"],
            per_channel=METHOD["per_channel"],
            reduce_range=METHOD["reduce_range"],
            weight_type=quantization.QuantType[METHOD["weight_type"]],
            nodes_to_exclude=keep,
        )
    finally:
        root.setLevel(level)
