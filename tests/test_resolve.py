"""Tests for easynlu.resolve: request string -> components."""

import dataclasses
import os

import pytest

from easynlu.catalogue import aliases, entries, nlu_not_available, nlu_refs
from easynlu.errors import (
    EasyNLUError,
    ModelPathNotFoundError,
    ModelUnavailableError,
    OptionError,
    OptionTypeError,
    UnknownReferenceError,
)
from easynlu.resolve import Component, column_name, resolve

MINI_12_128 = ("en.embed.bert.small_L12_128", "embed", "catalogue", "en_embed_bert_small_L12_128_embeddings")
SENT_12_128 = ("en.embed_sentence.small_bert_L12_128", "embed_sentence", "catalogue",
               "en_embed_sentence_small_bert_L12_128_embeddings")
MINILM = ("en.embed.minilm", "embed", "catalogue", "en_embed_minilm_embeddings")
MINILM_S = ("en.embed_sentence.minilm", "embed_sentence", "catalogue", "en_embed_sentence_minilm_embeddings")


def cat(ref):
    action = ref.split(".")[1]
    return (ref, action, "catalogue", ref.replace(".", "_") + "_embeddings")


# request -> one (ref, action, source, column) per component
TABLE = [
    # canonical refs, any case, with or without the language
    ("en.embed.bert.small_L12_128", [MINI_12_128]),
    ("en.embed.bert.small_l12_128", [MINI_12_128]),
    ("EN.EMBED.BERT.SMALL_L12_128", [MINI_12_128]),
    ("embed.bert.small_L12_128", [MINI_12_128]),
    ("embed.bert.small_l12_128", [MINI_12_128]),
    ("en.embed_sentence.small_bert_L12_128", [SENT_12_128]),
    ("embed_sentence.small_bert_l12_128", [SENT_12_128]),
    ("en.embed.bert.base_cased", [cat("en.embed.bert.base_cased")]),
    ("embed_sentence.bert.large_cased_whole_word_masking",
     [cat("en.embed_sentence.bert.large_cased_whole_word_masking")]),
    ("en.embed.minilm", [MINILM]),
    ("embed_sentence.minilm", [MINILM_S]),
    # defaults
    ("embed", [MINILM]),
    ("embed_sentence", [MINILM_S]),
    ("en.embed", [MINILM]),
    ("EN.Embed_Sentence", [MINILM_S]),
    # aliases
    ("en.embed.bert", [cat("en.embed.bert.base_uncased")]),
    ("embed.bert", [cat("en.embed.bert.base_uncased")]),
    ("en.embed_sentence.bert", [cat("en.embed_sentence.bert.base_uncased")]),
    ("en.embed.bert.tiny", [cat("en.embed.bert.small_L2_128")]),
    ("embed.bert.tiny", [cat("en.embed.bert.small_L2_128")]),
    ("en.embed.bert.mini", [cat("en.embed.bert.small_L4_256")]),
    ("en.embed.bert.small", [cat("en.embed.bert.small_L4_512")]),
    ("en.embed.bert.medium", [cat("en.embed.bert.small_L8_512")]),
    ("en.embed_sentence.bert.tiny", [cat("en.embed_sentence.small_bert_L2_128")]),
    ("embed_sentence.bert.mini", [cat("en.embed_sentence.small_bert_L4_256")]),
    ("en.embed_sentence.bert.small", [cat("en.embed_sentence.small_bert_L4_512")]),
    ("en.embed_sentence.bert.medium", [cat("en.embed_sentence.small_bert_L8_512")]),
    ("en.embed.bert.large_uncased_wwm", [cat("en.embed.bert.large_uncased_whole_word_masking")]),
    ("en.embed.bert.large_cased_wwm", [cat("en.embed.bert.large_cased_whole_word_masking")]),
    ("embed_sentence.bert.large_uncased_WWM", [cat("en.embed_sentence.bert.large_uncased_whole_word_masking")]),
    # other languages
    ("xx.embed.bert.multi_cased", [cat("xx.embed.bert.multi_cased")]),
    ("xx.embed", [cat("xx.embed.bert.multi_cased")]),
    ("xx.embed_sentence", [cat("xx.embed_sentence.bert.multi_cased")]),
    ("zh.embed.bert", [cat("zh.embed.bert")]),
    ("ZH.embed", [cat("zh.embed.bert")]),
    ("zh.embed_sentence", [cat("zh.embed_sentence.bert.base_chinese")]),
    # Hugging Face ids
    ("hf:google/bert_uncased_L-2_H-128_A-2",
     [("hf:google/bert_uncased_L-2_H-128_A-2", "embed", "hf", "hf_google_bert_uncased_L_2_H_128_A_2_embeddings")]),
    ("hf:bert-base-uncased", [("hf:bert-base-uncased", "embed", "hf", "hf_bert_base_uncased_embeddings")]),
    ("HF:org.x/my_model.v2", [("hf:org.x/my_model.v2", "embed", "hf", "hf_org_x_my_model_v2_embeddings")]),
    ("embed_sentence:hf:sentence-transformers/all-mpnet-base-v2",
     [("hf:sentence-transformers/all-mpnet-base-v2", "embed_sentence", "hf",
       "hf_sentence_transformers_all_mpnet_base_v2_embeddings")]),
    # several refs make one pipeline, in order
    ("en.embed.bert.small_L12_128 en.embed_sentence.small_bert_L12_128", [MINI_12_128, SENT_12_128]),
    ("  embed \t embed_sentence\n", [MINILM, MINILM_S]),
    ("embed_sentence en.embed.bert.tiny hf:a/b",
     [MINILM_S, cat("en.embed.bert.small_L2_128"), ("hf:a/b", "embed", "hf", "hf_a_b_embeddings")]),
]


@pytest.mark.parametrize("request_, expected", TABLE, ids=[t[0].strip() for t in TABLE])
def test_resolve_table(request_, expected):
    got = resolve(request_)
    assert isinstance(got, tuple) and all(isinstance(c, Component) for c in got)
    assert [(c.ref, c.action, c.source, c.column) for c in got] == expected


@pytest.mark.parametrize("request_, expected", TABLE, ids=[t[0].strip() for t in TABLE])
def test_resolve_table_models_and_entries(request_, expected):
    for comp in resolve(request_):
        if comp.source == "catalogue":
            assert comp.entry is entries()[comp.ref]
            assert comp.model == comp.entry.model and comp.action == comp.entry.action
        else:
            assert comp.entry is None
            assert comp.model == comp.ref[len("hf:"):]


def test_resolve_every_catalogue_name_any_case():
    targets = {ref: ref for ref in entries()} | aliases()
    nlu = {name.lower() for name in nlu_refs()} | {name.lower() for name in nlu_not_available()}
    for name, target in targets.items():
        forms = [name, name.upper(), name.lower()]
        if name.startswith("en.") and name[3:].lower() not in nlu:  # NLU's table wins over the "en." rule
            forms.append(name[3:])
        for form in forms:
            (comp,) = resolve(form)
            assert comp.ref == target and comp.column == column_name(target), form


def test_resolve_component_is_frozen():
    (comp,) = resolve("embed")
    with pytest.raises(dataclasses.FrozenInstanceError):
        comp.ref = "x"


# ---- local directories -------------------------------------------------------------------------


@pytest.fixture
def model_dir(tmp_path, monkeypatch):
    path = tmp_path / "my-model.v1"
    path.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    return str(path)


@pytest.mark.parametrize("form", ["{abs}", "{abs}/", "./my-model.v1", "my-model.v1", "~/my-model.v1",
                                  "sub/../my-model.v1"])
def test_resolve_directory_forms(model_dir, form):
    os.makedirs("sub", exist_ok=True)
    (comp,) = resolve(form.format(abs=model_dir))
    assert (comp.ref, comp.model, comp.action, comp.source) == (model_dir, model_dir, "embed", "path")
    assert comp.column == "my_model_v1_embeddings" and comp.entry is None


def test_resolve_directory_sentence_prefix_and_mix(model_dir):
    got = resolve("embed_sentence:./my-model.v1 embed.bert.tiny")
    assert (got[0].ref, got[0].action, got[0].source) == (model_dir, "embed_sentence", "path")
    assert got[1].ref == "en.embed.bert.small_L2_128"


@pytest.mark.parametrize("prefix, action", [("", "embed"), ("embed_sentence:", "embed_sentence")])
def test_resolve_directory_with_spaces_and_path_objects(tmp_path, prefix, action):
    path = tmp_path / "My Model v1"
    path.mkdir()
    (comp,) = resolve(f"{prefix}{path}")
    assert (comp.model, comp.action, comp.source, comp.column) == (str(path), action, "path", "My_Model_v1_embeddings")
    if not prefix:
        assert resolve(path) == (comp,)  # a pathlib.Path is one model too


def test_resolve_catalogue_wins_over_directory(tmp_path, monkeypatch):
    (tmp_path / "embed").mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve("embed")[0].ref == "en.embed.minilm"
    assert resolve("./embed")[0].ref == str(tmp_path / "embed")


@pytest.mark.parametrize("token", ["./does-not-exist", "~/nope-xyz", "/no/such/dir", "a\\b", "..missing"])
def test_resolve_missing_directory(tmp_path, monkeypatch, token):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ModelPathNotFoundError, match="does not exist") as info:
        resolve(token)
    err = info.value
    assert isinstance(err, FileNotFoundError) and isinstance(err, ModelUnavailableError)
    assert not isinstance(err, KeyError) and "easynlu.models()" not in str(err)
    assert str(err).startswith(f"{token!r}: the path ") and err.path == os.path.abspath(os.path.expanduser(token))


@pytest.mark.parametrize("token", ["embed", "typo-dir", "google/bert_uncased_L-2_H-128_A-2"])
def test_resolve_path_true_is_always_a_path(tmp_path, monkeypatch, token):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelPathNotFoundError, match="does not exist"):
        resolve(token, path=True)
    with pytest.raises(ModelPathNotFoundError, match="does not exist"):
        resolve(tmp_path / token)  # a pathlib.Path is a path too
    (tmp_path / token).mkdir(parents=True)
    assert resolve(token, path=True)[0].source == "path"


def test_resolve_plain_word_stays_unknown_reference(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnknownReferenceError, match="Unknown model reference 'typo-dir'"):
        resolve("typo-dir")


def test_resolve_file_is_not_a_directory(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"")
    with pytest.raises(UnknownReferenceError, match="is not a directory"):
        resolve(str(path))


def test_resolve_bare_hub_id_hints_hf_prefix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnknownReferenceError, match="write 'hf:FacebookAI/roberta-base'"):
        resolve("FacebookAI/roberta-base")


# ---- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("token, first", [
    ("en.embed.bert.small_L12_129", "en.embed.bert.small_L12_128"),
    ("embed.bert.smal_L12_128", "en.embed.bert.small_L12_128"),
    ("EN.EMBED.BERT.SMAL_L12_128", "en.embed.bert.small_L12_128"),
    ("en.embed_sentence.small_bert_L12_12", "en.embed_sentence.small_bert_L12_128"),
    ("embed.bert.tinny", "en.embed.bert.tiny"),
    ("en.embed.minilmm", "en.embed.minilm"),
    ("xx.embed.bert.multi_case", "xx.embed.bert.multi_cased"),
])
def test_resolve_unknown_suggests(token, first):
    with pytest.raises(UnknownReferenceError) as info:
        resolve(f"en.embed {token}")
    err = info.value
    assert isinstance(err, KeyError)
    assert err.ref == token and err.suggestions[0] == first and 1 <= len(err.suggestions) <= 3
    message = str(err)
    assert message.startswith(f"Unknown model reference {token!r}. Did you mean {first!r}")
    assert "easynlu.models()" in message and "hf:ORG/NAME" in message and "directory" in message


def test_resolve_unknown_without_close_match():
    with pytest.raises(UnknownReferenceError) as info:
        resolve("xyzzy")
    assert info.value.suggestions == () and "Did you mean" not in str(info.value)
    assert "easynlu.models()" in str(info.value)


@pytest.mark.parametrize("request_", ["", "   ", "\n\t"])
def test_resolve_empty_request(request_):
    with pytest.raises(UnknownReferenceError, match="Empty model request") as info:
        resolve(request_)
    assert "en.embed" in str(info.value) and isinstance(info.value, KeyError)


def test_resolve_not_a_string():
    with pytest.raises(OptionTypeError, match="must be a str") as info:
        resolve(None)
    assert isinstance(info.value, TypeError) and isinstance(info.value, EasyNLUError)


@pytest.mark.parametrize("token", ["hf:", "hf:a/b/c", "hf:/abs", "hf:-org/name", "hf:org/name.",
                                   "hf:org/na..me", "hf:org--x/name", "hf:org/name!", "hf:" + "x" * 97,
                                   "embed_sentence:hf:a/b/c"])
def test_resolve_bad_hf_id(token):
    with pytest.raises(UnknownReferenceError, match="expected 'hf:ORG/NAME'") as info:
        resolve(token)
    assert isinstance(info.value, KeyError)


def test_resolve_sentence_prefix_on_catalogue_ref():
    with pytest.raises(UnknownReferenceError, match="'hf:' ids and directories only") as info:
        resolve("embed_sentence:en.embed.bert")
    assert info.value.suggestions == ("en.embed_sentence.bert.base_uncased",)


@pytest.mark.parametrize("request_, expected", [
    ("embed embed", [MINILM]),
    ("en.embed en.embed.minilm", [MINILM]),
    ("embed.bert.tiny EN.EMBED.BERT.SMALL_L2_128 embed", [cat("en.embed.bert.small_L2_128"), MINILM]),
    ("hf:a/b embed_sentence hf:a/b", [("hf:a/b", "embed", "hf", "hf_a_b_embeddings"), MINILM_S]),
])
def test_resolve_same_model_twice_is_loaded_once(request_, expected, caplog):
    with caplog.at_level("INFO", logger="easynlu"):
        got = resolve(request_)
    assert [(c.ref, c.action, c.source, c.column) for c in got] == expected
    assert "is loaded once, with one column" in caplog.text


@pytest.mark.parametrize("request_, column", [
    ("embed_sentence:hf:a/b hf:a/b", "hf_a_b_embeddings"),
    ("hf:a/b-c hf:a/b_c", "hf_a_b_c_embeddings"),
])
def test_resolve_duplicate_column(request_, column):
    with pytest.raises(OptionError, match=column) as info:
        resolve(request_)
    assert isinstance(info.value, ValueError)


def test_resolve_duplicate_directory_basename(tmp_path):
    for parent in ("one", "two"):
        (tmp_path / parent / "bert").mkdir(parents=True)
    with pytest.raises(ValueError, match="bert_embeddings"):
        resolve(f"{tmp_path}/one/bert {tmp_path}/two/bert")


def test_resolve_token_and_sentence_variants_coexist():
    got = resolve("en.embed.bert.small_L2_128 en.embed_sentence.small_bert_L2_128")
    assert got[0].model == got[1].model and got[0].column != got[1].column


# ---- column names ------------------------------------------------------------------------------


@pytest.mark.parametrize("ref, column", [
    ("en.embed.bert.small_L12_128", "en_embed_bert_small_L12_128_embeddings"),
    ("en.embed_sentence.small_bert_L2_128", "en_embed_sentence_small_bert_L2_128_embeddings"),
    ("hf:google/bert_uncased_L-2_H-128_A-2", "hf_google_bert_uncased_L_2_H_128_A_2_embeddings"),
    ("hf:sentence-transformers/all-MiniLM-L6-v2", "hf_sentence_transformers_all_MiniLM_L6_v2_embeddings"),
    ("/models/my-bert", "my_bert_embeddings"),
    ("/models/my-bert/", "my_bert_embeddings"),
    ("C:\\models\\bert base", "bert_base_embeddings"),
    ("/data/.hidden--model", "hidden_model_embeddings"),
])
def test_resolve_column_name(ref, column):
    assert column_name(ref) == column


# ---- Hugging Face ids of catalogue models, and suggestions ---------------------------------------


@pytest.mark.parametrize("request_, ref", [
    ("all-MiniLM-L6-v2", "en.embed.minilm"),
    ("sentence-transformers/all-MiniLM-L6-v2", "en.embed.minilm"),
    ("SENTENCE-TRANSFORMERS/ALL-MINILM-L6-V2", "en.embed.minilm"),
    ("google/bert_uncased_L-2_H-128_A-2", "en.embed.bert.small_L2_128"),
    ("bert_uncased_l-2_h-128_a-2", "en.embed.bert.small_L2_128"),
    ("embed_sentence:all-MiniLM-L6-v2", "en.embed_sentence.minilm"),
])
def test_resolve_hub_id_of_a_catalogue_model(request_, ref, tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    with caplog.at_level("INFO", logger="easynlu"):
        (comp,) = resolve(request_)
    assert (comp.ref, comp.source, comp.column) == (ref, "catalogue", column_name(ref))
    assert f"loading its catalogue entry {ref}" in caplog.text


def test_resolve_directory_wins_over_hub_id(tmp_path, monkeypatch):
    (tmp_path / "google" / "bert_uncased_L-2_H-128_A-2").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert resolve("google/bert_uncased_L-2_H-128_A-2")[0].source == "path"
    assert resolve("hf:google/bert_uncased_L-2_H-128_A-2")[0].source == "hf"


@pytest.mark.parametrize("token, first", [
    ("all-MiniLM-L6", "all-MiniLM-L6-v2"),
    ("google/bert_uncased_L-2_H-128_A-3", "google/bert_uncased_L-2_H-128_A-2"),
])
def test_resolve_close_hub_ids_are_suggested(token, first, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnknownReferenceError, match=f"Did you mean {first!r}") as info:
        resolve(token)
    assert info.value.suggestions[0] == first


@pytest.mark.parametrize("token", ["sentiment", "ner", "classify"])
def test_resolve_no_far_fetched_suggestions(token):
    with pytest.raises(UnknownReferenceError) as info:
        resolve(token)
    assert info.value.suggestions == () and "Did you mean" not in str(info.value)
