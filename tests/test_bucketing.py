"""Length buckets: padded batch lengths rounded up to a multiple of batching.BUCKET change no row,
offset or vector (fp32, 1e-5) against unbucketed runs, on the torch and ONNX backends."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from test_onnx import CASES, TEXTS

import easynlu
from easynlu import backends
from easynlu.backends import batching
from easynlu.compute import Part, encode

ATOL = 1e-5
# lengths from 1 to ~60 tokens, so that a bucket of 16 pads most batches past their longest member
WORDS = "the cat sat on a mat while dogs barked at 3 noisy birds in Zürich today".split()
MANY = [*TEXTS, *(" ".join(WORDS[: 1 + i % len(WORDS)] * (1 + i // 7)) + "." for i in range(30))]


def widths_seen(backend, monkeypatch) -> list[int]:
    """Record the width of every padded batch the backend builds."""
    seen: list[int] = []
    pad = type(backend)._pad

    def recording(self, tokens, wins, batch):
        ids, mask = pad(self, tokens, wins, batch)
        seen.append(ids.shape[1])
        return ids, mask

    monkeypatch.setattr(type(backend), "_pad", recording)
    return seen


@pytest.mark.parametrize("engine", ["torch", "onnx"])
def test_bucketing_keeps_every_vector_at_every_level(tiny_bert, tiny_bert_onnx, engine, monkeypatch):
    backend = backends.load(str(tiny_bert), "cpu", "float32", backend=engine)
    widths = widths_seen(backend, monkeypatch)
    for action in ("embed", "embed_sentence"):
        for level, options in CASES:
            if action == "embed_sentence" and options.layers != -1:
                continue
            options = dataclasses.replace(options, batch_size=4)  # several batches
            monkeypatch.setattr(batching, "BUCKET", 1)
            want = encode(MANY, [Part("v", action, backend)], level, options).vectors["v"]
            plain = list(widths)
            widths.clear()
            monkeypatch.setattr(batching, "BUCKET", 16)
            got = encode(MANY, [Part("v", action, backend)], level, options).vectors["v"]
            assert all(w % 16 == 0 for w in widths) and any(w % 16 for w in plain), (plain, widths)
            assert len(set(widths)) < len(set(plain))  # fewer shapes
            widths.clear()
            assert got.shape == want.shape and got.dtype == np.float32
            assert np.array_equal(np.isnan(got), np.isnan(want)), (action, level, options)
            np.testing.assert_allclose(got, want, atol=ATOL, rtol=0, equal_nan=True, err_msg=f"{action} {level}")


@pytest.mark.parametrize("engine", ["torch", "onnx"])
def test_bucketing_keeps_every_row_and_offset_of_predict(tiny_bert, tiny_bert_onnx, engine, monkeypatch):
    pipe = easynlu.load(str(tiny_bert), backend=engine)
    for level in ("token", "sentence", "document"):
        monkeypatch.setattr(batching, "BUCKET", 1)
        want = pipe.predict(MANY, output_level=level, positions=True, batch_size=4, progress=False)
        monkeypatch.setattr(batching, "BUCKET", 16)
        got = pipe.predict(MANY, output_level=level, positions=True, batch_size=4, progress=False)
        column = pipe.components[0].column
        pd.testing.assert_frame_equal(got.drop(columns=column), want.drop(columns=column))
        for a, b in zip(got[column], want[column], strict=True):
            np.testing.assert_allclose(np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32),
                                       atol=ATOL, rtol=0, err_msg=level)


def test_bucketing_never_pads_past_the_models_longest_input(tmp_path, monkeypatch):
    from conftest import make_bert_dir

    path = make_bert_dir(tmp_path / "bert", layers=1, hidden=32, heads=2, max_positions=30)  # bucket 32 > 30
    backend = backends.load(str(path), "cpu", "float32", backend="torch")
    widths = widths_seen(backend, monkeypatch)
    texts = [" ".join(["word"] * n) for n in (3, 20, 27, 28, 60)]  # 28: the whole window, 60: two windows
    monkeypatch.setattr(batching, "BUCKET", 1)
    want = encode(texts, [Part("v", "embed", backend)], "token", CASES[0][1]).vectors["v"]
    monkeypatch.setattr(batching, "BUCKET", 16)
    widths.clear()
    got = encode(texts, [Part("v", "embed", backend)], "token", CASES[0][1]).vectors["v"]
    assert max(widths) == 30 and 16 in widths
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)


def test_bucketed_rounds_up_within_the_limit():
    assert [batching.bucketed(n, 16) for n in (1, 16, 17, 33)] == [16, 16, 32, 48]
    assert batching.bucketed(20, 16, limit=30) == 30 and batching.bucketed(30, 16, limit=30) == 30
    assert batching.bucketed(7, 1) == 7
    lengths = np.array([9, 17, 5, 12, 40, 3])
    for batch in batching.batches(lengths, 64, bucket=16):
        assert batching.bucketed(int(lengths[batch].max()), 16) * len(batch) <= 64 or len(batch) == 1
