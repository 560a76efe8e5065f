"""Attention fusion: each attention block of a dynamo-exported BERT becomes one onnxruntime op.

``torch.onnx.export(dynamo=True)`` writes transformers' SDPA attention as ~20 nodes per layer:
reshapes and transposes of Q, K and V into heads, two scale multiplications, the scores
MatMul, the additive mask, Softmax, an IsNaN/Where guard, the MatMul with V and the transpose
back. On MiniLM (2 cores) these cost ~15% of fp32 time and ~30% of int8 time (measured with
onnxruntime's profiler). onnxruntime's ``com.microsoft.MultiHeadAttention`` does the same in one
kernel, from Q, K and V in ``[batch, sequence, hidden]`` and the attention mask as ``[batch,
sequence]`` int32 ("key padding mask"). onnxruntime's own transformer optimizer does not
recognise the dynamo graph's pattern, hence this small rewrite.

The rewrite keeps the Q/K/V/output projections as they are (so int8 quantisation still sees
plain MatMuls) and every graph output (hidden states) unchanged. A block that does not match the
expected shape, or whose scores get more than the padding mask added (a position bias, say), is
left as it is; the caller also checks the result against torch.
"""

from __future__ import annotations

from typing import Any

MASK = "easynlu_mask_int32"
# Fusions onnxruntime (1.2x-1.3x) makes at EXTENDED level whose CPU kernels ran slower here than the
# ops they replace (SkipLayerNormalization 545 ms against Add + LayerNormalization ~170 ms on MiniLM).
SLOW_FUSIONS = ("SkipLayerNormFusion", "BiasGeluFusion")


def index(graph: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, list[Any]]]:
    """An ONNX graph's constants (initializers and Constant nodes, as numpy arrays), the node that
    produces each tensor, and the nodes that read it."""
    from onnx import numpy_helper

    consts = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    return consts, producer, consumers


def fuse_attention(model: Any, num_heads: int) -> int:
    """Replace each SDPA block of the ONNX BERT ``model`` (in place) by MultiHeadAttention; how many were."""
    graph = model.graph
    if "attention_mask" not in {i.name for i in graph.input}:
        return 0
    blocks = _Blocks(graph)
    fused: dict[str, Any] = {}  # the block's output name -> its MultiHeadAttention node
    for softmax in [n for n in graph.node if n.op_type == "Softmax"]:
        node = blocks.attention(softmax, num_heads, f"easynlu_attention_{len(fused)}")
        if node is not None:
            fused[node.output[0]] = node
    if fused:
        _replace(model, fused)
    return len(fused)


class _Blocks:
    """An ONNX graph indexed to find its attention blocks: constants, producers, readers, projections."""

    def __init__(self, graph: Any) -> None:
        self.consts, self.producer, self.consumers = index(graph)
        # the outputs of projections: MatMul by a constant 2-D weight, with its bias Add when it has one
        self.projections: set[str] = set()
        for node in graph.node:
            if node.op_type == "MatMul" and node.input[1] in self.consts and self.consts[node.input[1]].ndim == 2:
                after = self.consumers.get(node.output[0], [])
                biased = len(after) == 1 and after[0].op_type == "Add" and any(i in self.consts for i in after[0].input)
                self.projections.add(after[0].output[0] if biased else node.output[0])

    def attention(self, softmax: Any, num_heads: int, name: str) -> Any:
        """The MultiHeadAttention node that replaces the block around ``softmax``, or None if it does not match."""
        from onnx import helper

        masked = self.producer.get(softmax.input[0])
        if masked is None or masked.op_type != "Add" or not self.padding_mask(masked.input[1]):
            return None
        scores = self.producer.get(masked.input[0])
        if scores is None or scores.op_type != "MatMul":
            return None
        probs = softmax.output[0]
        if any(n.op_type == "IsNaN" for n in self.consumers[probs]):  # SDPA's guard for rows with no key:
            where = [n for n in self.consumers[probs] if n.op_type == "Where"]  # Where(IsNaN(p), 0, p)
            probs = where[0].output[0] if len(where) == 1 else ""
        mix = [n for n in self.consumers.get(probs, []) if n.op_type == "MatMul" and n.input[0] == probs]
        if len(mix) != 1:
            return None
        back = self.only(mix[0].output[0], "Transpose")
        merged = self.only(back.output[0], "Reshape") if back is not None else None
        (q, q_scale), (k, k_scale), (v, v_scale) = (
            self.projection_of(scores.input[0]), self.projection_of(scores.input[1]),
            self.projection_of(mix[0].input[1]))
        if merged is None or q is None or k is None or v is None or v_scale != 1.0:
            return None
        return helper.make_node("MultiHeadAttention", [q, k, v, "", MASK], [merged.output[0]], name=name,
                                domain="com.microsoft", num_heads=num_heads, scale=q_scale * k_scale)

    def projection_of(self, name: str) -> tuple[str | None, float]:
        """The projection ``name`` is a reshaped, transposed and scaled view of, and the scale."""
        scale = 1.0
        while name not in self.projections:
            node = self.producer.get(name)
            if node is None or node.op_type not in ("Mul", "Transpose", "Reshape"):
                return None, scale
            if node.op_type == "Mul":
                left, right = node.input
                factor, name = (right, left) if right in self.consts else (left, right)
                if factor not in self.consts or self.consts[factor].size != 1:
                    return None, scale
                scale *= float(self.consts[factor].reshape(()))
            else:
                name = node.input[0]
        return name, scale

    def padding_mask(self, name: str) -> bool:
        """Whether ``name`` is made from attention_mask's values alone (other inputs only through
        their shapes) and no float constant of more than one element: the padding mask that
        MultiHeadAttention rebuilds from MASK, not a learned or positional bias it would drop."""
        seen, stack, reached = set(), [name], set()
        while stack:
            tensor = stack.pop()
            if not tensor or tensor in seen:
                continue
            seen.add(tensor)
            if tensor in self.consts:
                if self.consts[tensor].dtype.kind == "f" and self.consts[tensor].size > 1:
                    return False
                continue
            node = self.producer.get(tensor)
            if node is None:
                reached.add(tensor)
            elif node.op_type != "Shape":
                stack.extend(node.input)
        return reached == {"attention_mask"}

    def only(self, name: str, op: str) -> Any:
        """The one node reading ``name``, if there is one and it is an ``op``; else None."""
        found = self.consumers.get(name, [])
        return found[0] if len(found) == 1 and found[0].op_type == op else None


def _replace(model: Any, fused: dict[str, Any]) -> None:
    """Put the ``fused`` nodes in place of the nodes making their outputs, after the mask's cast to
    int32, and drop what no graph output needs any more (the old blocks, the SDPA mask)."""
    from onnx import TensorProto, helper

    graph = model.graph
    nodes = [helper.make_node("Cast", ["attention_mask"], [MASK], to=TensorProto.INT32, name="easynlu_mask_cast")]
    nodes += [fused.get(node.output[0], node) if node.output else node for node in graph.node]
    needed = {out.name for out in graph.output}
    kept = []
    for node in reversed(nodes):
        if any(out in needed for out in node.output):
            kept.append(node)
            needed.update(name for name in node.input if name)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    initializers = [init for init in graph.initializer if init.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    if not any(opset.domain == "com.microsoft" for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
