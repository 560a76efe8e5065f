"""easynlu.compute: texts + loaded encoders -> one Encoded, made whole in one go."""

import dataclasses

import numpy as np
import pytest

import easynlu
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
