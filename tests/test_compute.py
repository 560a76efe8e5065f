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
