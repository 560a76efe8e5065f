"""NLU's keywords and column style: NLU code runs on easynlu with one changed import."""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import easynlu
from easynlu import nlu
from easynlu.resolve import Component

TEXTS = ["I love data science! It is fun.", "", "Second document"]


def test_nlu_load_keywords(tiny_bert, tmp_path, capfd):
    pipe = easynlu.load(path=str(tiny_bert))  # NLU's path= for a model directory
    assert pipe.components[0].model == str(tiny_bert)
    saved = pipe.save(tmp_path / "saved")
    restored = easynlu.load(path=saved)  # and for a saved pipeline
    assert restored.components[0].column == pipe.components[0].column
    easynlu.unload(str(tiny_bert))  # so that this load is logged, whatever ran before
    capfd.readouterr()
    easynlu.load(str(tiny_bert), verbose=True).predict("x", progress=False)
    logged = capfd.readouterr().err
    assert "resolves to" in logged and "loaded" in logged and str(tiny_bert) in logged
    easynlu.load(str(tiny_bert)).predict("y", progress=False)  # as NLU: each load says whether it wants it
    assert "resolves to" not in capfd.readouterr().err
    with pytest.raises(easynlu.OptionError, match="not both"):
        easynlu.load("embed", path=str(tiny_bert))
    with pytest.raises(easynlu.OptionError, match=r"load\(\) needs a model: pass a model request, e\.g\. easynlu"):
        easynlu.load()  # says what is missing, not "not both"


def test_nlu_load_takes_path_and_verbose_in_nlus_positional_order(tiny_bert, capfd):
    import inspect

    params = inspect.signature(easynlu.load).parameters
    assert list(params)[:4] == ["request", "path", "verbose", "device"]
    assert [params[n].kind.name for n in ("request", "path", "verbose", "device")] == [
        "POSITIONAL_OR_KEYWORD", "POSITIONAL_OR_KEYWORD", "POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY"]
    easynlu.unload(str(tiny_bert))
    capfd.readouterr()
    pipe = easynlu.load(None, str(tiny_bert), True)  # nlu.load(request, path, verbose)
    assert pipe.components[0].model == str(tiny_bert) and "resolves to" in capfd.readouterr().err
    easynlu.load(None, str(tiny_bert), False)  # and quiet again
    with pytest.raises(easynlu.OptionError, match="not both"):
        easynlu.load("embed", str(tiny_bert))
    with pytest.raises(easynlu.OptionTypeError, match="Its arguments are: request, path, verbose, device"):
        easynlu.load("embed", None, False, True)  # gpu is a keyword here
    with pytest.raises(easynlu.ModelPathNotFoundError, match="does not exist"):
        easynlu.load(None, "embed")  # a path, even when it reads as a ref


@pytest.mark.parametrize("call", ["load", "predict", "embed"])
def test_nlu_unknown_keyword_is_a_type_error_listing_the_valid_ones(call):
    pipe = easynlu.load("embed")
    with pytest.raises(TypeError) as info:
        if call == "load":
            easynlu.load("embed", verbos=True)
        elif call == "predict":
            pipe.predict("x", output_lvl="token")
        else:
            pipe.embed(["x"], output_level="token")
    message = str(info.value)
    assert isinstance(info.value, easynlu.OptionTypeError) and "unexpected keyword" in message
    assert ("verbose" if call == "load" else "pooling") in message


def test_nlu_predict_accepts_nlu_keywords_with_their_meaning(tiny_bert):
    pipe = easynlu.load(str(tiny_bert))
    frame = pd.DataFrame({"text": TEXTS, "stars": [5, 1, 3]}, index=["a", "b", "c"])
    plain = pipe.predict(frame, output_level="token", progress=False)
    same = pipe.predict(frame, output_level="token", multithread=False, get_embeddings=True, progress=False)
    pd.testing.assert_frame_equal(plain.drop(columns=plain.columns[1]), same.drop(columns=same.columns[1]))

    meta = pipe.predict(frame, output_level="token", metadata=True, progress=False)
    column = pipe.components[0].column
    assert list(meta.columns) == ["token", "sentence", "document", "sentence_id", column, "stars"]
    assert meta.loc["a", "sentence_id"].tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert meta.loc["a", "sentence"].tolist()[:5] == ["I love data science!"] * 5
    assert meta.loc["a", "sentence"].tolist()[5] == "It is fun."
    assert set(meta.loc["a", "document"]) == {TEXTS[0]}
    assert pd.isna(meta.loc["b", "sentence_id"])  # the empty document keeps its placeholder row

    kept = pipe.predict(frame, output_level="token", drop_irrelevant_cols=False, progress=False)
    assert list(kept.columns) == ["token", "sentence", "document", column, "stars"]
    sentences = pipe.predict(frame, output_level="sentence", drop_irrelevant_cols=False, metadata=True,
                             progress=False)
    assert list(sentences.columns) == ["sentence", "document", "sentence_id", column, "stars"]
    assert sentences["sentence_id"].tolist()[:2] == [0, 1]

    stranger = pipe.predict(frame, output_level="document", keep_stranger_features=False, progress=False)
    assert list(stranger.columns) == ["document", column] and list(stranger.index) == ["a", "b", "c"]
    pd.testing.assert_frame_equal(frame, pd.DataFrame({"text": TEXTS, "stars": [5, 1, 3]}, index=["a", "b", "c"]))


def test_nlu_return_spark_df_needs_spark_input(tiny_bert):
    with pytest.raises(easynlu.OptionError, match="return_spark_df=True needs a Spark DataFrame"):
        easynlu.load(str(tiny_bert)).predict("x", return_spark_df=True)


def test_nlu_predict_embeds_is_embed(tiny_bert):
    pipe = easynlu.load(str(tiny_bert))
    np.testing.assert_array_equal(pipe.predict_embeds(TEXTS, progress=False), pipe.embed(TEXTS, progress=False))


def test_nlu_first_string_column_with_a_warning(tiny_bert):
    pipe = easynlu.load(str(tiny_bert))
    frame = pd.DataFrame({"title": ["I love NLP", "Hi"], "body": ["Other text", "More"]})
    with pytest.warns(easynlu.EasyNLUWarning, match="using the first, 'title'.*text_column='title'"):
        df = pipe.predict(frame, output_level="document", progress=False)
    assert df["document"].tolist() == ["I love NLP", "Hi"] and df["body"].tolist() == ["Other text", "More"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipe.predict(frame, output_level="document", text_column="body", progress=False)


def test_nlu_column_style_positions_are_inclusive(tiny_bert):
    pipe = easynlu.load(str(tiny_bert))
    ours = pipe.predict("I love data science!", output_level="token", positions=True, progress=False)
    theirs = pipe.predict("I love data science!", output_level="token", positions=True, columns="nlu",
                          progress=False)
    name = "word_embedding_" + tiny_bert.name.replace("-", "_")  # a path's name: its column's
    assert list(theirs.columns) == sorted(["token", "token_begin", "token_end", name, f"{name}_begin", f"{name}_end"])
    love = theirs[theirs["token"] == "love"].iloc[0]
    assert (love["token_begin"], love["token_end"]) == (2, 5)  # NLU's documented example
    assert (theirs["token_end"] == ours["end"] - 1).all() and (theirs["token_begin"] == ours["start"]).all()
    assert (theirs[f"{name}_end"] == theirs["token_end"]).all()
    np.testing.assert_array_equal(np.stack(theirs[name].to_list()), np.stack(ours.iloc[:, 3].to_list()))


@pytest.mark.parametrize("ref, name", [
    ("bert", "bert"), ("embed_sentence.bert", "bert"), ("en.embed.bert.base_uncased", "bert"),
    ("en.embed_sentence.small_bert_L2_128", "small_bert_L2_128"), ("xx.embed_sentence.bert", "bert"),
    ("embed_sentence.bert_base_cased", "bert_base_cased"), ("biobert", "biobert"), ("en.embed.minilm", "minilm"),
    ("xx.embed.xlm.base", "xlm"), ("embed", "embed"),
])
def test_nlu_name_of_ref_as_nlu_derives_it(ref, name):
    # nlu/pipe/col_substitution/col_name_substitution_utils.py, deduct_name_from_nlu_ref_at_depth
    typed = Component(ref, "embed", "model", "catalogue", "v", requested=ref)
    assert nlu.vector_names([typed]) == [f"word_embedding_{name}"]


# -- against NLU's documented outputs (tests/data/nlu_documented_outputs.json) ----------------------
DOCUMENTED = {o["id"]: o for o in json.loads(
    (Path(__file__).parent / "data" / "nlu_documented_outputs.json").read_text())["outputs"]}


@pytest.fixture(scope="module")
def nlu_bert(tmp_path_factory, hf_cache):
    """NLU's `bert` checkpoint (small_bert_L2_128) as random weights in the temporary HF cache."""
    import shutil

    from conftest import make_bert_dir, put_in_hf_cache

    model_dir = make_bert_dir(tmp_path_factory.mktemp("nlu-bert"), layers=2, hidden=128, heads=2, seed=4)
    put_in_hf_cache(hf_cache, "google/bert_uncased_L-2_H-128_A-2", model_dir)
    yield model_dir
    easynlu.unload("bert")
    shutil.rmtree(hf_cache / "models--google--bert_uncased_L-2_H-128_A-2")


def test_nlu_documented_sentence_embedding_columns(nlu_bert):
    case = DOCUMENTED["embed_sentence_bert_document"]
    call = case["call"]
    df = easynlu.load(call["ref"]).predict(pd.Series(call["text"]), output_level=call["output_level"],
                                           columns="nlu", progress=False)
    assert list(df.columns) == case["columns"]  # ['document', 'sentence_embedding_bert']
    assert [(i, d) for i, d in zip(df.index, df["document"], strict=True)] == [
        (r["index"], r["document"]) for r in case["rows"]]
    assert df["sentence_embedding_bert"].iloc[0].shape == (128,)


def test_nlu_documented_token_positions_and_names(nlu_bert):
    case = DOCUMENTED["token_positions"]
    df = easynlu.load("bert").predict(case["call"]["text"], output_level="token", positions=True, metadata=True,
                                      columns="nlu", progress=False)
    assert [(r.token, r.token_begin, r.token_end) for r in df.itertuples()] == [
        (r["token"], r["begin"], r["end"]) for r in case["rows"]]
    assert list(df.columns) == ["document", "sentence", "token", "token_begin", "token_end", "word_embedding_bert",
                                "word_embedding_bert_begin", "word_embedding_bert_end",
                                "word_embedding_bert_origin_sentence"]
    assert (df.index == 0).all() and df["word_embedding_bert_origin_sentence"].tolist() == [0] * len(df)


def test_nlu_pipeline_keys_getitem_and_print_info(capsys):
    pipe = easynlu.load("bert embed_sentence")
    assert pipe.keys() == ["en.embed.bert.small_L2_128", "en.embed_sentence.minilm"] == list(pipe)
    assert pipe["en.embed.bert.small_L2_128"] is pipe.components[0]
    assert pipe["BERT"] is pipe.components[0]  # the name as typed
    assert pipe["en_embed_sentence_minilm_embeddings"] is pipe.components[1]  # the output column
    assert "embed_sentence" in [c.action for c in pipe.components] and "en.embed_sentence.minilm" in pipe
    with pytest.raises(KeyError) as info:
        pipe["word_embedding_glove"]
    assert isinstance(info.value, easynlu.EasyNLUError)
    assert str(info.value) == ("'word_embedding_glove' is not a component of this pipeline; its keys are "
                               "'en.embed.bert.small_L2_128', 'en.embed_sentence.minilm'.")
    pipe.print_info()
    printed = capsys.readouterr().out
    assert printed.splitlines()[0] == "refs: ['en.embed.bert.small_L2_128', 'en.embed_sentence.minilm']"
    assert "loaded: False" in printed


def test_nlu_print_components(capsys):
    easynlu.print_components(action="embed_sentence")
    lines = capsys.readouterr().out.splitlines()
    expected = easynlu.models().query("action == 'embed_sentence'")
    assert lines[0].split() == list(expected.columns) and len(lines) == 1 + len(expected)
    assert all("embed_sentence" in line for line in lines[1:]) and "en.embed.minilm " not in "\n".join(lines)
    easynlu.print_components(action="embed", lang="zh")
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["zh.embed.bert"]
    with pytest.raises(easynlu.OptionError, match="action='ner' is not supported: use one of 'embed', 'embed_se"):
        easynlu.print_components(action="ner")


def test_nlu_output_positions_is_positions():
    pipe = easynlu.load("embed")
    old = pipe.predict("I love NLP", output_level="token", output_positions=True)
    assert list(old.columns[:3]) == ["token", "start", "end"] and list(old["end"]) == [1, 6, 10]
    both = pipe.predict("I love NLP", output_level="token", positions=True, output_positions=True)
    assert both.columns.equals(old.columns)
    assert "start" not in pipe.predict("I love NLP", output_level="token", output_positions=False).columns
    for positions, output_positions in ((True, False), (False, True)):
        with pytest.raises(easynlu.OptionError, match="disagree: output_positions is NLU's older name"):
            pipe.predict("x", positions=positions, output_positions=output_positions)
    with pytest.raises(easynlu.OptionError, match="output_positions='yes': pass True or False"):
        pipe.predict("x", output_positions="yes")
    with pytest.raises(easynlu.OptionTypeError, match="output_positions"):
        pipe.predict("x", output_position=True)  # a typo lists the valid keywords
