"""The best-practice hand-written loop: the limit easynlu is measured against.

Plain transformers + numpy + torch, written the way an expert would for throughput:

* one batched fast-tokenizer call without padding;
* argsort by token length, batches filled up to a token budget (padded tokens per batch);
* padding with numpy, only to each batch's own longest member;
* ``torch.inference_mode()`` and ``attn_implementation="sdpa"``;
* pooling on the device (mean over the attention mask + L2 normalisation for a
  sentence-transformers model such as all-MiniLM-L6-v2, as sentence-transformers does; BERT's
  pooler output for a plain BERT);
* token mode: the first wordpiece of every word (``word_ids``) gathered on the device into one
  preallocated float32 block, and a DataFrame built once (a token column and a column of row views).

No easynlu import here.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

TOKEN_BUDGET = 8192  # padded tokens per batch (incl. [CLS]/[SEP]); run.py passes easynlu's default


def sync(device) -> None:
    """Wait for queued GPU work, so a timer stopped after this measures finished work."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


class RawLoop:
    def __init__(self, path: str, device: str = "cpu", dtype: torch.dtype | None = None,
                 pooling: str = "mean_norm", max_length: int = 512, token_budget: int = TOKEN_BUDGET):
        from transformers import AutoModel, AutoTokenizer

        self.device = torch.device(device)
        if dtype is None:  # the SPEC's defaults: float16 on CUDA, float32 elsewhere
            dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path, dtype=dtype, attn_implementation="sdpa").to(self.device).eval()
        self.pooling = pooling  # "mean_norm" (sentence-transformers mean + normalize) | "pooler"
        self.max_length = max_length
        self.token_budget = token_budget
        self.pad_id = self.tokenizer.pad_token_id or 0
        self.dim = self.model.config.hidden_size
        self.last_padding = None  # (real tokens, padded tokens) of the last call

    # -- shared pieces ----------------------------------------------------------------------
    def _tokenize(self, texts, offsets=False):
        return self.tokenizer(list(texts), add_special_tokens=True, truncation=True, max_length=self.max_length,
                              padding=False, return_offsets_mapping=offsets)

    def _batches(self, lengths: np.ndarray):
        order = np.argsort(-lengths, kind="stable")
        i, n = 0, len(order)
        while i < n:
            size = max(1, self.token_budget // int(lengths[order[i]]))
            yield order[i:i + size]
            i += size

    def _padded(self, flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray, batch: np.ndarray):
        lens = lengths[batch]
        width = int(lens.max())
        mask = np.arange(width)[None, :] < lens[:, None]
        src = np.where(mask, starts[batch][:, None] + np.arange(width)[None, :], 0)
        ids = np.where(mask, flat[src], self.pad_id)
        return ids, mask.astype(np.int64)

    def _forward(self, ids: np.ndarray, mask: np.ndarray):
        ids_t = torch.from_numpy(ids).to(self.device, non_blocking=True)
        mask_t = torch.from_numpy(mask).to(self.device, non_blocking=True)
        return self.model(input_ids=ids_t, attention_mask=mask_t), mask_t

    def _run(self, flat, starts, lengths):
        """(batch, model output, mask on the device) per batch; counts padding in last_padding."""
        self.last_padding = (0, 0)
        for batch in self._batches(lengths):
            ids, mask = self._padded(flat, starts, lengths, batch)
            real, padded = self.last_padding
            self.last_padding = (real + int(mask.sum()), padded + mask.size)
            output, mask_t = self._forward(ids, mask)
            yield batch, output, mask_t

    @staticmethod
    def _flatten(input_ids):
        lengths = np.fromiter((len(x) for x in input_ids), dtype=np.int64, count=len(input_ids))
        starts = np.zeros(len(lengths), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        flat = np.fromiter((t for x in input_ids for t in x), dtype=np.int64, count=int(lengths.sum()))
        return flat, starts, lengths

    # -- sentence mode: one vector per text -------------------------------------------------
    def encode(self, texts) -> np.ndarray:
        enc = self._tokenize(texts)
        flat, starts, lengths = self._flatten(enc["input_ids"])
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for batch, output, mask_t in self._run(flat, starts, lengths):
                if self.pooling == "pooler":
                    vectors = output.pooler_output
                else:
                    hidden = output.last_hidden_state.float()
                    weights = mask_t.unsqueeze(-1).to(hidden.dtype)
                    vectors = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                    vectors = F.normalize(vectors, p=2, dim=1)
                out[batch] = vectors.float().cpu().numpy()
        return out

    def sentence_frame(self, texts):
        """``encode`` delivered as easynlu's sentence level delivers it: a DataFrame with a text
        column and a column of row views (the like-for-like baseline for peak memory)."""
        import pandas as pd

        out = self.encode(texts)
        cells = np.empty(len(out), dtype=object)
        for i, view in enumerate(out):
            cells[i] = view
        return pd.DataFrame({"sentence": list(texts), "embeddings": cells})

    # -- token mode: one vector per word (its first wordpiece) and a DataFrame --------------
    def tokens(self, texts):
        import pandas as pd

        texts = list(texts)
        enc = self._tokenize(texts, offsets=True)
        encodings = enc.encodings
        flat, starts, lengths = self._flatten(enc["input_ids"])
        total = int(lengths.sum())
        word = np.fromiter((-1 if w is None else w for e in encodings for w in e.word_ids), dtype=np.int64,
                           count=total)
        spans = np.fromiter((x for e in encodings for span in e.offsets for x in span), dtype=np.int64,
                            count=2 * total).reshape(-1, 2)
        text_of = np.repeat(np.arange(len(texts)), lengths)
        # words: runs of equal (text, word id) among the non-special tokens
        pieces = np.flatnonzero(word >= 0)
        key = (text_of[pieces] << 32) | word[pieces]
        starts_in = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, np.int64)
        first = pieces[starts_in]                              # flat index of each word's first piece
        ends = np.maximum.reduceat(spans[pieces, 1], starts_in) if len(starts_in) else np.zeros(0, np.int64)
        n_words = np.bincount(text_of[first], minlength=len(texts))
        word_text = text_of[first]
        word_starts = spans[first, 0].tolist()
        tokens = [texts[t][s:e] for t, s, e in zip(word_text.tolist(), word_starts, ends.tolist(), strict=True)]

        out = np.empty((len(first), self.dim), dtype=np.float32)
        word_start = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(n_words, out=word_start[1:])
        col_of = first - starts[text_of[first]]                # column of each word in its text's row
        with torch.inference_mode():
            for batch, output, _ in self._run(flat, starts, lengths):
                counts = n_words[batch]
                row = np.repeat(np.arange(len(batch)), counts)
                dst = np.repeat(word_start[batch] - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
                col = col_of[dst]
                hidden = output.last_hidden_state
                picked = hidden[torch.from_numpy(row).to(self.device), torch.from_numpy(col).to(self.device)]
                out[dst] = picked.float().cpu().numpy()
        cells = np.empty(len(out), dtype=object)
        for i, view in enumerate(out):  # row views into the one block (a list would broadcast)
            cells[i] = view
        return pd.DataFrame({"token": tokens, "embeddings": cells}, index=np.repeat(np.arange(len(texts)), n_words))
