"""easynlu.compute: texts + loaded encoders -> one Encoded, made whole in one go."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

import easynlu
from easynlu import compute
from easynlu.compute import encode
from easynlu.options import Options


def test_compute_encoded_is_made_whole_and_stays_so(tiny_bert):
    pipe = easynlu.load(str(tiny_bert))
    column = pipe.components[0].column
    encoded = encode(["I love NLP", ""], pipe._parts(), "document", Options())
    assert encoded.vectors[column].shape == (2, 64) and encoded.present[column].tolist() == [True, False]
    assert np.isnan(encoded.vectors[column][1]).all()
    with pytest.raises(TypeError):
        encoded.vectors["other"] = encoded.vectors[column]  # a read-only mapping
    with pytest.raises(dataclasses.FrozenInstanceError):
        encoded.level = "token"


def test_compute_sentence_vectors_of_a_long_text_are_renormalised_once():
    # MiniLM normalises; a text longer than its 256-token window is a mean over windows, which
    # the backend re-normalises (no second pass in compute).
    pipe = easynlu.load("en.embed_sentence.minilm")
    long = " ".join(["word"] * 600)
    encoded = encode([long, "short"], pipe._parts(), "document", Options())
    norms = np.linalg.norm(encoded.vectors[pipe.components[0].column], axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


# -- pooling=None: the model's own sentence vector ------------------------------------------------
TEXTS = ["I love NLP. It is fun.", "Embeddings are vectors!", "", "A third, longer text about cats and dogs."]


def st_encode(path, texts):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu")
    return model.encode(texts, convert_to_numpy=True, batch_size=len(texts))


def without_pooler(model_dir):
    """Drop pooler.* from the weights file, as many sentence-transformers checkpoints ship."""
    from safetensors.numpy import load_file, save_file

    weights = model_dir / "model.safetensors"
    tensors = {k: v for k, v in load_file(weights).items() if not k.startswith("pooler.")}
    save_file(tensors, weights, metadata={"format": "pt"})
    return model_dir


@pytest.fixture(scope="module")
def st_cls_dir(tmp_path_factory):
    """A sentence-transformers directory: random BERT, CLS pooling, no Normalize, no pooler weights."""
    from conftest import make_bert_dir
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    base = make_bert_dir(tmp_path_factory.mktemp("st-base"), layers=2, hidden=64, heads=2, seed=11)
    transformer = Transformer(str(base))
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="cls")
    out = tmp_path_factory.mktemp("st-cls")
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(out))
    return without_pooler(out)


def present(texts):
    return [t for t in texts if t.strip()]


@pytest.mark.parametrize("ref", ["en.embed.minilm", "en.embed_sentence.minilm",
                                 "hf:sentence-transformers/all-MiniLM-L6-v2", "path"])
def test_compute_own_pooling_equals_sentence_transformers_minilm(ref, minilm_dir):
    pipe = easynlu.load(str(minilm_dir) if ref == "path" else ref)
    want = st_encode(minilm_dir, present(TEXTS))
    got = pipe.embed(TEXTS, progress=False)
    assert np.isnan(got[2]).all()
    np.testing.assert_allclose(got[[0, 1, 3]], want, atol=1e-5)
    document = pipe.predict(TEXTS, output_level="document", progress=False)
    np.testing.assert_allclose(np.stack(document.iloc[[0, 1, 3], 1].to_list()), want, atol=1e-5)
    sentences = pipe.predict(TEXTS, output_level="sentence", progress=False).dropna()
    np.testing.assert_allclose(np.stack(sentences.iloc[:, 1].to_list()),
                               st_encode(minilm_dir, sentences["sentence"].tolist()), atol=1e-5)


def test_compute_own_pooling_cls_without_normalize_by_path_and_hf_id(st_cls_dir, hf_cache, capfd):
    import shutil

    from conftest import put_in_hf_cache

    want = st_encode(st_cls_dir, present(TEXTS))
    capfd.readouterr()
    put_in_hf_cache(hf_cache, "org/st-cls", st_cls_dir)
    try:
        for ref in (str(st_cls_dir), "hf:org/st-cls"):
            pipe = easynlu.load(ref)
            np.testing.assert_allclose(pipe.embed(TEXTS, progress=False)[[0, 1, 3]], want, atol=1e-5)
            sentences = pipe.predict(TEXTS, output_level="sentence", progress=False).dropna()
            np.testing.assert_allclose(np.stack(sentences.iloc[:, 1].to_list()),
                                       st_encode(st_cls_dir, sentences["sentence"].tolist()), atol=1e-5)
    finally:
        shutil.rmtree(hf_cache / "models--org--st-cls")
    assert np.abs(np.linalg.norm(want, axis=1) - 1).max() > 0.1  # not normalised, as configured
    printed = capfd.readouterr()
    assert "LOAD REPORT" not in printed.err + printed.out and "MISSING" not in printed.err + printed.out


def test_compute_explicit_pooling_still_does_what_it_says(minilm_dir):
    pipe = easynlu.load("en.embed.minilm")
    single = [TEXTS[1], TEXTS[3]]  # one sentence each: token level reads one sentence at a time
    tokens = pipe.predict(single, output_level="token", progress=False)
    means = np.stack([np.stack(tokens.loc[i].iloc[:, 1].to_list()).mean(0) for i in (0, 1)])
    got = pipe.embed(single, pooling="mean", progress=False)
    np.testing.assert_allclose(got, means, atol=1e-5)
    assert not np.allclose(got, st_encode(minilm_dir, single), atol=1e-3)
    # other layers than the last: the model's own pooling reads the last layer only, so mean over words
    np.testing.assert_allclose(pipe.embed(TEXTS[:2], layers=-2, progress=False),
                               pipe.embed(TEXTS[:2], layers=-2, pooling="mean", progress=False), atol=1e-6)


def test_compute_missing_pooler_is_an_error_only_when_needed(tmp_path, capfd):
    from conftest import make_bert_dir

    model_dir = without_pooler(make_bert_dir(tmp_path / "no-pooler", layers=1, hidden=32, heads=1, seed=2))
    capfd.readouterr()
    token = easynlu.load(str(model_dir)).predict("I love NLP", output_level="document", progress=False)
    assert token.iloc[0, 1].shape == (32,)  # a token model needs no pooler
    with pytest.raises(easynlu.ModelUnavailableError, match="no pooler weights") as info:
        easynlu.load(f"embed_sentence:{model_dir}").predict("I love NLP", progress=False)
    assert "pooling='mean'" in info.value.fix
    printed = capfd.readouterr()
    assert "LOAD REPORT" not in printed.err + printed.out


# -- repeated segments are tokenized and run once ---------------------------------------------------
LONG = " ".join(["word"] * 560)  # over the 510-token window: several windows
REPEATS = ["I love NLP. It is fun.", "It is fun. I love NLP.", "", "I love NLP. It is fun.", "   ",
           "Café au lait. I love NLP.", "\u200b", "It is fun.", LONG, "\u200b", "I love NLP. It is fun.", LONG]


@pytest.fixture(scope="module")
def pair(tiny_bert, tmp_path_factory):
    """A token model and a second encoder (another tokenizer instance, BERT pooler vectors)."""
    from conftest import make_bert_dir

    other = make_bert_dir(tmp_path_factory.mktemp("other-bert"), layers=1, hidden=32, heads=1, seed=5)
    return easynlu.load(f"{tiny_bert} embed_sentence:{other}")


def no_dedup(seg_texts):
    """compute._distinct when every segment counts as distinct: easynlu without deduplication."""
    return seg_texts, None


def assert_same_rows(got, want):
    """Same index, text and position columns exactly; vectors within 1e-6, None/NaN in the same rows."""
    vector_columns = [c for c in want.columns if c.endswith("_embeddings")]
    assert list(got.columns) == list(want.columns) and vector_columns
    pd.testing.assert_frame_equal(got.drop(columns=vector_columns), want.drop(columns=vector_columns))
    for column in vector_columns:
        missing = want[column].isna().to_numpy()
        assert got[column].isna().to_numpy().tolist() == missing.tolist()
        np.testing.assert_allclose(np.stack(got[column][~missing].to_list()),
                                   np.stack(want[column][~missing].to_list()), atol=1e-6, rtol=0)


LEVEL_OPTIONS = [("token", {}), ("token", {"subword_pooling": "mean", "layers": [-1, -2]}),
                 ("sentence", {}), ("sentence", {"pooling": "max", "subword_pooling": "mean"}),
                 ("document", {}), ("document", {"pooling": "cls", "normalize": True})]


@pytest.mark.parametrize("level, options", LEVEL_OPTIONS)
def test_compute_repeated_texts_give_the_rows_of_one_text_at_a_time(pair, level, options, monkeypatch):
    got = pair.predict(REPEATS, output_level=level, positions=True, progress=False, **options)
    alone = {t: pair.predict([t], output_level=level, positions=True, progress=False, **options) for t in REPEATS}
    want = pd.concat([alone[t].set_axis([i] * len(alone[t])) for i, t in enumerate(REPEATS)])
    assert_same_rows(got, want)
    monkeypatch.setattr(compute, "_distinct", no_dedup)
    assert_same_rows(got, pair.predict(REPEATS, output_level=level, positions=True, progress=False, **options))


def test_compute_repeated_documents_embed_and_sentence_columns(pair, monkeypatch):
    got = pair.embed(REPEATS, progress=False)
    assert got.shape == (len(REPEATS), 64 + 32) and got.dtype == np.float32
    assert np.isnan(got[[2, 4, 6, 9]]).all() and not np.isnan(got[[0, 1, 3, 5, 7, 8, 10, 11]]).any()
    np.testing.assert_array_equal(got[0], got[3])
    np.testing.assert_array_equal(got[8], got[11])
    encoded = encode(REPEATS, pair._parts(), "token", Options())
    monkeypatch.setattr(compute, "_distinct", no_dedup)
    plain = encode(REPEATS, pair._parts(), "token", Options())
    for name in ("row_doc", "row_start", "row_end", "row_sentence", "sentence_start", "sentence_end"):
        np.testing.assert_array_equal(getattr(encoded, name), getattr(plain, name), err_msg=name)
    np.testing.assert_allclose(np.nan_to_num(pair.embed(REPEATS, progress=False), nan=9.0),
                               np.nan_to_num(got, nan=9.0), atol=1e-6, rtol=0)


class Spy:
    """A backend that records the texts it tokenizes and the segments it runs."""

    def __init__(self, backend):
        self.inner, self.tokenized, self.ran = backend, [], []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def tokenize(self, texts):
        self.tokenized.append(list(texts))
        return self.inner.tokenize(texts)

    def run(self, tokens, job, progress=None):
        self.ran.append(len(tokens.offsets) - 1)
        return self.inner.run(tokens, job, progress)


@pytest.mark.parametrize("level", ["token", "sentence", "document"])
def test_compute_the_backend_sees_each_distinct_segment_once(pair, level):
    parts = [compute.Part(part.column, part.action, Spy(part.backend)) for part in pair._parts()]
    texts = ["I love NLP. It is fun.", "It is fun.", "I love NLP. It is fun.", "", "Bye. It is fun."]
    encode(texts, parts, level, Options())
    if level == "document":
        distinct = ["I love NLP. It is fun.", "It is fun.", "Bye. It is fun."]
    else:
        distinct = ["I love NLP.", "It is fun.", "Bye."]
    for part in parts:
        assert part.backend.tokenized == [distinct]
        assert part.backend.ran == [len(distinct)]


def test_compute_without_repeats_the_backend_gets_the_segments_as_they_are(pair):
    spy = Spy(pair._parts()[0].backend)
    texts = ["One text.", "Another text. And a sentence."]
    encode(texts, [compute.Part("x_embeddings", "embed", spy)], "sentence", Options())
    assert spy.tokenized == [["One text.", "Another text.", "And a sentence."]]
