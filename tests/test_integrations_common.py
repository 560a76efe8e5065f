"""What every adapter shares (easynlu.integrations.common): options checked at once, refs or pipelines, no NaN rows."""

from __future__ import annotations

import numpy as np
import pytest

import easynlu
from easynlu.integrations.common import OPTIONS, Model


def test_integrations_common_passes_embed_options_through(p):
    texts = ["I love NLP.", "Cats purr. Dogs bark.", "x"]
    for options in ({}, {"normalize": True}, {"pooling": "max", "layers": [-1, -2]}, {"pooling": "cls"}):
        got = Model(p, options).vectors(texts)
        want = p.embed(texts, progress=False, **options)
        assert got.dtype == np.float32 and got.shape == want.shape == (3, 64)
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_integrations_common_loads_a_ref_with_easynlu_load(tiny_bert, p):
    model = Model(str(tiny_bert), {"normalize": True})
    assert model.name == str(tiny_bert) and not model.pipe.loaded  # lazy until the first texts
    np.testing.assert_allclose(model.vectors(["a b c"]), p.embed(["a b c"], normalize=True), atol=1e-5)


def test_integrations_common_checks_options_before_loading(tiny_bert):
    with pytest.raises(easynlu.OptionTypeError, match="'output_level': not an option of embed"):
        Model(str(tiny_bert), {"output_level": "token"})
    with pytest.raises(easynlu.OptionTypeError, match="normalise"):
        Model(str(tiny_bert), {"normalise": True})
    with pytest.raises(easynlu.OptionError, match="pooling='median'"):
        Model(str(tiny_bert), {"pooling": "median"})
    with pytest.raises(easynlu.OptionTypeError, match="pass an easynlu ref"):
        Model(42, {})  # type: ignore[arg-type]
    assert "text_column" not in OPTIONS and "normalize" in OPTIONS


def test_integrations_common_refuses_texts_with_no_vector(p):
    with pytest.raises(easynlu.InputError, match=r"text 2 \(' '\) has no tokens.*2 such text\(s\) of 4"):
        Model(p, {}).vectors(["fine", "also fine", " ", ""])
    assert Model(p, {}).vectors([]).shape == (0, 64)
