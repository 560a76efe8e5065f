"""A transformers encoder: tokenize, batch by tokens, forward, pool on the device.

This is the only module (with sentence.py and device.py) that touches torch. It takes flat numpy
arrays in and gives flat float32 numpy arrays out; what to pool is decided by the caller (a Job).
The model directory has already been checked by ``sources`` (config, no custom code, weights).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..encoded import Job, Tokens
from ..errors import ModelUnavailableError, OutOfMemoryError
from . import common
from .common import State, WindowedBackend
from .device import bf16_linears
from .sentence import SentencePooling, is_sentence_transformers_dir

if TYPE_CHECKING:
    from transformers import AutoModel, PretrainedConfig, PreTrainedTokenizerBase

    from .batching import Windows

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def load(path: str, device: str, dtype: str) -> TransformerBackend:
    """Load a model directory; a sentence-transformers directory keeps its own pooling."""
    from transformers.utils import logging as hf_logging

    sentence = SentencePooling(path) if is_sentence_transformers_dir(path) else None
    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # transformers' per-tensor "Loading weights" bar is noise here
    try:
        return TransformerBackend(path, device, dtype, sentence=sentence)
    finally:
        if shown:
            hf_logging.enable_progress_bar()


class TransformerBackend(WindowedBackend):
    """A Hugging Face encoder loaded from a local directory.

    ``run`` raises OutOfMemoryError when one window does not fit on the device (a batch that
    does not fit is halved and retried first).
    """

    name = "torch"

    def __init__(self, path: str, device: str, dtype: str, sentence: SentencePooling | None = None):
        from transformers import AutoModel, AutoTokenizer

        self.path, self.dtype = path, dtype
        self._device = torch.device(device)
        self.device = str(self._device)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        except Exception as err:  # tokenizers raises plain Exception on a broken tokenizer.json
            raise ModelUnavailableError(
                f"Cannot load the tokenizer in {path} ({type(err).__name__}: {err}).",
                fix="save the tokenizer there again with tokenizer.save_pretrained(dir)") from err
        model, missing = _load_weights(AutoModel, path, dtype, attention(self._device.type, dtype))
        self.model = model.to(self._device).eval()
        if self._device.type == "cpu" and dtype == "bfloat16" and bf16_linears() == "packed":
            from .cpu_bf16 import pack

            pack(self.model)  # oneDNN-packed linears, GELU fused (cpu_bf16.py); not on AMX (device.py)
        self.has_pooler = not any("pooler" in key.split(".") for key in missing)
        self.sentence = sentence.attach(self.model.config.hidden_size, self.device) if sentence is not None else None
        self.has_own_pooling = self.sentence is not None
        self.own_dim = self.sentence.dim if self.sentence is not None else 0
        self.own_normalize = self.sentence is not None and self.sentence.normalize
        config = self.model.config
        self.dim = int(config.hidden_size)
        self.n_layers = int(config.num_hidden_layers)
        tokenizer = self.tokenizer
        self.prefix, self.suffix = common.special_tokens(
            lambda text, special: list(tokenizer(text, add_special_tokens=special)["input_ids"]))
        # This backend owns its tokenizer, so the Rust tokenizer is reconfigured in place rather
        # than copied (a copy costs ~8 MB): tokenizer.json often carries truncation/padding.
        self.rust_tokenizer = self.tokenizer.backend_tokenizer
        self.rust_tokenizer.no_truncation()
        self.rust_tokenizer.no_padding()
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.takes_types = "token_type_ids" in self.tokenizer.model_input_names
        self.max_length = _max_length(config, self.tokenizer)
        if self.sentence is not None and self.sentence.max_length:
            self.max_length = min(self.max_length, self.sentence.max_length)
        self.window = self.max_length - len(self.prefix) - len(self.suffix)
        if self.window < 2:
            raise ModelUnavailableError(
                f"The model in {path} reads at most {self.max_length} tokens, which leaves no room for text "
                f"beside its special tokens.", fix="use a model with a larger max_position_embeddings")

    def memory_bytes(self) -> int:
        """Bytes held by the model's parameters and buffers (the tokenizer is not counted)."""
        tensors = [*self.model.parameters(), *self.model.buffers()]
        return sum(t.numel() * t.element_size() for t in tensors)

    # -- run (WindowedBackend.run; OutOfMemoryError when one window does not fit on the device) --
    def _run_safely(self, tokens: Tokens, wins: Windows, batch: np.ndarray, job: Job, state: State) -> None:
        """Run a batch; on CUDA out-of-memory, split it in half and retry, down to one window."""
        try:
            self._run_batch(tokens, wins, batch, job, state)
            return
        except torch.cuda.OutOfMemoryError as err:
            if len(batch) == 1:
                raise OutOfMemoryError(
                    f"{err}\neasynlu split the batch down to one window of {int(wins.length[batch[0]])} "
                    f"tokens and it still does not fit on {self.device}. Free memory on the device "
                    f"(other processes, other models), use a smaller model, or run on the CPU: "
                    f"easynlu.load(..., device='cpu')."
                ) from err
        # Retry outside the except block: the traceback holds the failed attempt's tensors.
        if self._device.type == "cuda":
            torch.cuda.empty_cache()
        half = len(batch) // 2
        self._run_safely(tokens, wins, batch[:half], job, state)
        self._run_safely(tokens, wins, batch[half:], job, state)

    def _run_batch(self, tokens: Tokens, wins: Windows, batch: np.ndarray, job: Job, state: State) -> None:
        ids, mask = self._pad(tokens, wins, batch)
        with torch.inference_mode():
            out = self.forward(ids, mask, hidden_states=job.layers != (-1,))
            hidden = _combine_layers(out, job.layers, job.layer_pooling)
            token_part = self._pool_tokens(hidden, wins, batch, job) if job.group is not None else None
            seg_part = self._pool_segments(out, hidden, job, mask) if job.segment else None
        state.add(batch, token_part, seg_part)  # only after the whole batch succeeded

    def forward(self, ids: np.ndarray, mask: np.ndarray, hidden_states: bool = False) -> Any:
        """The model's output for one padded batch (ids and mask as int64 numpy arrays)."""
        inputs = {"input_ids": self._to_device(ids), "attention_mask": self._to_device(mask)}
        if self.takes_types:
            inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
        return self.model(**inputs, output_hidden_states=hidden_states, return_dict=True)

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(array)
        if self._device.type == "cuda":
            return tensor.pin_memory().to(self._device, non_blocking=True)
        return tensor.to(self._device)

    def _pool_tokens(self, hidden: torch.Tensor, wins: Windows, batch: np.ndarray,
                     job: Job) -> tuple[np.ndarray, np.ndarray] | None:
        """Pool on the device, so that only the pooled rows come back to the host."""
        index = common.TokenIndex.of(wins, batch, job, len(self.prefix))
        if index is None:
            return None
        device = self._device
        vectors = hidden[torch.from_numpy(index.row).to(device), torch.from_numpy(index.col).to(device)]
        inverse = torch.from_numpy(index.inverse).to(device)
        if job.op == "max":
            pooled = torch.full((len(index.rows), vectors.shape[1]), -torch.inf, device=device)
            pooled.scatter_reduce_(0, inverse[:, None].expand_as(vectors), vectors, "amax")
        else:
            if job.weight is not None:
                vectors = vectors * torch.from_numpy(job.weight[index.flat]).to(device)[:, None]
            pooled = torch.zeros((len(index.rows), vectors.shape[1]), device=device)
            pooled.index_add_(0, inverse, vectors)
        return index.rows, pooled.cpu().numpy()

    def _pool_segments(self, out: Any, hidden: torch.Tensor, job: Job, mask: np.ndarray) -> np.ndarray:
        if job.segment == "cls":
            vectors = hidden[:, 0]
        elif self.sentence is not None:  # the model's own sentence-transformers pooling
            vectors = self.sentence.pool(out, self._to_device(mask))
        else:  # BERT's sentence vector: [CLS] through the pooler dense layer and tanh
            if getattr(out, "pooler_output", None) is None or not self.has_pooler:
                raise common.no_pooler_error(self.path, self.has_pooler)
            vectors = out.pooler_output
        return vectors.float().cpu().numpy()


def _combine_layers(out: Any, layers: tuple[int, ...], layer_pooling: str) -> torch.Tensor:
    if layers == (-1,):
        return out.last_hidden_state.float()
    states = [out.hidden_states[i].float() for i in layers]
    if len(states) == 1:
        return states[0]
    return torch.cat(states, dim=-1) if layer_pooling == "concat" else torch.stack(states).mean(0)


def _max_length(config: PretrainedConfig, tokenizer: PreTrainedTokenizerBase) -> int:
    limit = int(getattr(config, "max_position_embeddings", 512) or 512)
    told = getattr(tokenizer, "model_max_length", None)
    if isinstance(told, int) and 0 < told < 100_000:
        limit = min(limit, told)
    return limit


def attention(device_type: str, dtype: str) -> str:
    """transformers' attention implementation for a placement: "sdpa", except bfloat16 on the CPU.

    torch 2.13's CPU flash-attention kernel is slow in bfloat16 on short sequences: on MiniLM's
    shapes (12 heads of 32, 21-128 tokens) it took 4.5-6.4 ms a call where eager matmul + softmax
    took 3.0-5.9 ms (in float32 SDPA is as fast or faster), and eager made 2,048 sentences ~5% faster
    in bfloat16 (benchmarks/cpu.py). Both give the same vectors within bfloat16's rounding.
    """
    return "eager" if device_type == "cpu" and dtype == "bfloat16" else "sdpa"


def _load_weights(auto_model: type[AutoModel], path: str, dtype: str, attn: str = "sdpa") -> tuple[Any, list[str]]:
    """from_pretrained (the model, and the names of weights its files lack): safetensors
    preferred, a .bin only through torch's weights_only loader.

    ``sources.check_model_dir`` has already refused custom code and truncated or corrupted files;
    what can still go wrong here is reported as ModelUnavailableError naming the directory.
    transformers' load report (e.g. a MISSING pooler table) is not printed: a missing pooler is
    reported by easynlu when a sentence vector needs it, other problems in the error.
    """
    import pickle

    report = _CapturedLog()
    try:
        with report:
            model, info = auto_model.from_pretrained(
                path, dtype=DTYPES[dtype], attn_implementation=attn, trust_remote_code=False,
                weights_only=True, output_loading_info=True)
        return model, list(info.get("missing_keys", ()))
    except pickle.UnpicklingError as err:
        raise ModelUnavailableError(
            f"The weights in {path} (pytorch_model.bin) hold objects other than tensors. easynlu "
            f"only loads .bin files with torch.load(weights_only=True) and never unpickles "
            f"arbitrary objects.", fix="use a model saved as safetensors from a source you trust"
        ) from err
    except (OSError, RuntimeError) as err:
        files = sorted(os.listdir(path))
        details = "".join(f"\n{line}" for line in report.lines)
        raise ModelUnavailableError(
            f"Cannot load the weights in {path} ({type(err).__name__}: {err}); it holds {files}.{details}",
            fix="save the model there again with model.save_pretrained(dir), which writes "
                "model.safetensors beside config.json",
        ) from err


class _CapturedLog(logging.Handler):
    """Keeps transformers' model-loading log lines instead of printing them, while in a with block."""

    _LOGGER = "transformers.modeling_utils"

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def __enter__(self) -> _CapturedLog:
        logger = logging.getLogger(self._LOGGER)
        self._propagate = logger.propagate
        logger.addHandler(self)
        logger.propagate = False
        return self

    def __exit__(self, *exc: object) -> None:
        logger = logging.getLogger(self._LOGGER)
        logger.removeHandler(self)
        logger.propagate = self._propagate
