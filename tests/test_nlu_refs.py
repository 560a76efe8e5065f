"""Tests for NLU's refs (easynlu/nlu_refs.toml): each resolves to NLU's checkpoint or says why it cannot."""

import copy
import importlib.util
import re
import sys
from pathlib import Path

import pytest

from easynlu import catalogue
from easynlu.catalogue import entries, models, nlu_lookup, nlu_not_available, nlu_refs, parse, parse_nlu
from easynlu.errors import OptionError, UnknownReferenceError
from easynlu.resolve import column_name, resolve, set_alias

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tools" / "nlu-spellbook-bert.txt"
NLU_TOML = ROOT / "easynlu" / "nlu_refs.toml"
CAT_TOML = ROOT / "easynlu" / "catalogue.toml"


def reference():
    """NLU ref -> Spark NLP model, read straight from the spellbook table."""
    rows = {}
    for line in REFERENCE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            m = re.match(r"^'([^']+)': \(?'([^']+)'", line)
            assert m, line
            rows[m[1]] = m[2]
    return rows


REFERENCE_ROWS = reference()
MINIATURES = {f"{p}small_bert_L{n}_{h}": f"google/bert_uncased_L-{n}_H-{h}_A-{h // 64}"
              for p in ("", "sent_") for n in (2, 4, 6, 8, 10, 12) for h in (128, 256, 512, 768)}
# Spark NLP model -> the Hugging Face checkpoint it is, written out by hand (independent of the generator).
SPARK_TO_HUB = MINIATURES | {
    "bert_base_uncased": "google-bert/bert-base-uncased",
    "sent_bert_base_uncased": "google-bert/bert-base-uncased",
    "bert_base_cased": "google-bert/bert-base-cased",
    "sent_bert_base_cased": "google-bert/bert-base-cased",
    "bert_large_uncased": "google-bert/bert-large-uncased",
    "sent_bert_large_uncased": "google-bert/bert-large-uncased",
    "bert_large_cased": "google-bert/bert-large-cased",
    "sent_bert_large_cased": "google-bert/bert-large-cased",
    "bert_embeddings_large_cased_whole_word_masking": "google-bert/bert-large-cased-whole-word-masking",
    "bert_embeddings_bert_large_cased_whole_word_masking": "google-bert/bert-large-cased-whole-word-masking",
    "bert_embeddings_large_uncased_whole_word_masking": "google-bert/bert-large-uncased-whole-word-masking",
    "bert_embeddings_bert_large_uncased_whole_word_masking": "google-bert/bert-large-uncased-whole-word-masking",
    "bert_multi_cased": "google-bert/bert-base-multilingual-cased",
    "sent_bert_multi_cased": "google-bert/bert-base-multilingual-cased",
    "bert_base_multilingual_cased": "google-bert/bert-base-multilingual-cased",
    "bert_base_multilingual_uncased": "google-bert/bert-base-multilingual-uncased",
    "bert_base_chinese": "google-bert/bert-base-chinese",
}
MAPPED = sorted(nlu_refs().items())
MISSING = sorted(nlu_not_available().items())


def nlu_action(nlu_ref):
    parts = nlu_ref.split(".")
    return "embed_sentence" if "embed_sentence" in parts[:2] else "embed"


def nlu_language(nlu_ref):
    first = nlu_ref.split(".")[0]
    return first if "." in nlu_ref and re.fullmatch(r"[a-z]{2}", first) else "en"


# ---- the whole table -----------------------------------------------------------------------------


@pytest.mark.parametrize("nlu_ref, ref", MAPPED, ids=[m[0] for m in MAPPED])
def test_nlu_refs_resolve_to_nlus_checkpoint(nlu_ref, ref):
    spark = REFERENCE_ROWS[nlu_ref]
    (comp,) = resolve(nlu_ref)
    assert comp.source == "catalogue" and comp.ref == ref and comp.column == column_name(ref)
    assert comp.model == SPARK_TO_HUB[spark]
    assert comp.action == nlu_action(nlu_ref) == ("embed_sentence" if spark.startswith("sent_") else "embed")
    assert comp.entry.language in (nlu_language(nlu_ref), "xx")
    assert resolve(nlu_ref.upper()) == (comp,)  # case-insensitive


@pytest.mark.parametrize("nlu_ref, why", MISSING, ids=[m[0] for m in MISSING])
def test_nlu_refs_not_available_say_why(nlu_ref, why):
    assert why.spark == REFERENCE_ROWS[nlu_ref] and why.nlu_ref == nlu_ref
    assert why.language == nlu_language(nlu_ref)
    assert SPARK_TO_HUB.get(why.spark) is None or why.language != "en"  # never a certain checkpoint of NLU's
    with pytest.raises(UnknownReferenceError) as info:
        resolve(nlu_ref)
    if " " in nlu_ref:  # a request is split on whitespace: the first word is unknown
        assert info.value.ref == nlu_ref.split()[0]
        return
    message = str(info.value)
    assert info.value.ref == nlu_ref and isinstance(info.value, KeyError)
    assert f"'{why.spark}'" in message and why.reason in message and "'hf:ORG/NAME'" in message


def test_nlu_refs_count_adds_up_to_the_reference():
    assert len(REFERENCE_ROWS) == 834
    assert len(MAPPED) + len(MISSING) == len(REFERENCE_ROWS)
    assert {n for n, _ in MAPPED} | {n for n, _ in MISSING} == set(REFERENCE_ROWS)
    assert len(MAPPED) == 77
    spelled = {n.lower() for n in REFERENCE_ROWS}
    assert len(spelled) == len(REFERENCE_ROWS)  # no two NLU refs differ only in case


def test_nlu_refs_generated_files_are_up_to_date():
    spec = importlib.util.spec_from_file_location("nlu_refs_tool", ROOT / "tools" / "nlu_refs.py")
    tool = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = tool  # dataclasses look their module up there
    try:
        spec.loader.exec_module(tool)
    finally:
        del sys.modules[spec.name]
    rows = tool.read(REFERENCE)
    assert tool.build_toml(rows) == NLU_TOML.read_text(encoding="utf-8")
    assert tool.build_docs(rows) == (ROOT / "docs" / "nlu-refs.md").read_text(encoding="utf-8")


def test_nlu_refs_docs_give_the_counts():
    docs = (ROOT / "docs" / "nlu-refs.md").read_text(encoding="utf-8")
    assert f"**{len(MAPPED)} resolve**" in docs and f"**{len(MISSING)} are not available**" in docs
    by_reason = {}
    for _, why in MISSING:
        by_reason[why.reason] = by_reason.get(why.reason, 0) + 1
    for reason, count in by_reason.items():
        assert f"  - {count}: {reason}." in docs
    assert sum(by_reason.values()) == len(MISSING)


# ---- the known cases -----------------------------------------------------------------------------


@pytest.mark.parametrize("request_, ref", [
    ("bert", "en.embed.bert.small_L2_128"),
    ("BERT", "en.embed.bert.small_L2_128"),
    ("embed_sentence.bert", "en.embed_sentence.small_bert_L2_128"),  # not base_uncased through "en."
    ("en.embed_sentence.bert", "en.embed_sentence.bert.base_uncased"),  # NLU's table says so, too
    ("embed.bert", "en.embed.bert.base_uncased"),
    ("en.embed.bert.base_uncased", "en.embed.bert.base_uncased"),
    ("embed.bert_base_uncased", "en.embed.bert.base_uncased"),
    ("embed.bert_large_cased", "en.embed.bert.large_cased"),
    ("en.embed_sentence.bert_base_cased", "en.embed_sentence.bert.base_cased"),
    ("en.embed_sentence.bert_base_uncased", "en.embed_sentence.bert.base_uncased"),
    ("en.embed_sentence.bert_large_uncased", "en.embed_sentence.bert.large_uncased"),
    ("xx.embed.bert", "xx.embed.bert.multi_cased"),
    ("xx.embed_sentence.bert", "xx.embed_sentence.bert.multi_cased"),
    ("xx.embed.bert_base_multilingual_cased", "xx.embed.bert.multi_cased"),
    ("xx.embed.bert_base_multilingual_uncased", "xx.embed.bert.multi_uncased"),
    ("en.embed.bert.uncased_large_whole_word_masking", "en.embed.bert.large_uncased_whole_word_masking"),
    ("en.embed.bert.cased_large_whole_word_masking", "en.embed.bert.large_cased_whole_word_masking"),
    ("embed.bert.uncased_large_whole_word_masking", "en.embed.bert.large_uncased_whole_word_masking"),  # "en."
    ("zh.embed.bert", "zh.embed.bert"),
    # easynlu's documented offline defaults stay MiniLM (NLU's GloVe and USE are not BERT models)
    ("embed", "en.embed.minilm"),
    ("embed_sentence", "en.embed_sentence.minilm"),
    ("en.embed", "en.embed.minilm"),
    ("en.embed_sentence", "en.embed_sentence.minilm"),
])
def test_nlu_refs_known_cases(request_, ref):
    assert [c.ref for c in resolve(request_)] == [ref]


def test_nlu_refs_bert_is_the_two_layer_miniature():
    (comp,) = resolve("bert")
    assert comp.model == "google/bert_uncased_L-2_H-128_A-2" and comp.entry.dim == 128
    assert comp.column == "en_embed_bert_small_L2_128_embeddings"  # the canonical ref's column


@pytest.mark.parametrize("request_, spark", [
    ("biobert", "biobert_pubmed_base_cased"),
    ("covidbert", "covidbert_large_uncased"),
    ("zh.embed_sentence.bert", "sbert_chinese_qmc_finance_v1"),  # not easynlu's bert-base-chinese
    ("es.embed.bert.base_cased", "bert_base_cased"),  # Spark NLP's Spanish model, not Google's English one
    ("embed.biobert", "biobert_pubmed_base_cased"),
    ("en.embed.roberta", "roberta_base"),
    ("ar.embed.MARBERT", "bert_embeddings_MARBERT"),
])
def test_nlu_refs_not_available_examples(request_, spark):
    with pytest.raises(UnknownReferenceError, match=re.escape(f"Spark NLP model '{spark}'")) as info:
        resolve(f"embed {request_}")
    assert info.value.ref == request_ and "hf:ORG/NAME" in str(info.value)


def test_nlu_refs_not_available_through_default_language():
    with pytest.raises(UnknownReferenceError, match="NLU's ref 'en.embed.bert.base'"):
        resolve("embed.bert.base")


def test_nlu_refs_lookup():
    assert nlu_lookup("  Bert ") is entries()["en.embed.bert.small_L2_128"]
    assert isinstance(nlu_lookup("BIOBERT"), catalogue.NotAvailable)
    assert nlu_lookup("en.embed.minilm") is None and nlu_lookup("embed") is None


def test_nlu_refs_recorded_on_entries_and_listed():
    for nlu_ref, ref in MAPPED:
        assert nlu_ref in entries()[ref].nlu_refs
    df = models().set_index("ref")
    assert "bert" in df.loc["en.embed.bert.small_L2_128", "aliases"].split(", ")
    assert "embed_sentence.bert" in df.loc["en.embed_sentence.small_bert_L2_128", "aliases"].split(", ")
    assert list(models("[b]iobert")["ref"]) == []  # not-available refs are in no row


@pytest.mark.parametrize("name", ["bert", "Biobert", "embed_sentence.bert"])
def test_nlu_refs_cannot_be_user_aliases(name, tmp_path, monkeypatch):
    monkeypatch.setenv("EASYNLU_CONFIG_DIR", str(tmp_path))
    with pytest.raises(OptionError, match="already a catalogue name"):
        set_alias(name, "en.embed.bert.base_uncased")


# ---- validation -----------------------------------------------------------------------------------


def _parse_broken(mutate):
    cat = tomllib.loads(CAT_TOML.read_text(encoding="utf-8"))
    entries_, alias_map = parse(cat)
    data = copy.deepcopy(tomllib.loads(NLU_TOML.read_text(encoding="utf-8")))
    mutate(data)
    return parse_nlu(data, entries_, alias_map)


def test_nlu_refs_parse_real_file():
    mapping, missing = _parse_broken(lambda d: None)
    assert mapping == nlu_refs() and missing == nlu_not_available()


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["refs"].update({"bert": {"ref": "en.embed.bert.small_L2_129", "spark": "x"}}), "not a canonical"),
    (lambda d: d["refs"].update({"x": {"ref": "en.embed.minilm"}}), "lacks field"),
    (lambda d: d["not_available"]["biobert"].update(reason="nope"), "has reason 'nope'"),
    (lambda d: d["refs"].update({"BIOBERT": {"ref": "en.embed.minilm", "spark": "x"}}), "listed twice"),
    (lambda d: d["refs"].update({"en.embed.bert": {"ref": "en.embed.minilm", "spark": "x"}}),
     "catalogue name of 'en.embed.bert.base_uncased'"),
    (lambda d: d["not_available"].update(
        {"zh.embed": {"spark": "x", "language": "zh", "reason": "unconfirmed"}}), "rename the catalogue's"),
    (lambda d: d.update(extra={}), "unknown table"),
])
def test_nlu_refs_parse_rejects_broken_data(mutate, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        _parse_broken(mutate)
