"""User aliases: saved in the config dir, resolved after the catalogue, refused when unsafe."""

import json
import os
import stat

import pytest

import easynlu
from easynlu import useraliases
from easynlu.resolve import resolve


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EASYNLU_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "config"


def test_useraliases_set_resolve_remove(config_dir):
    assert easynlu.user_aliases() == {}
    easynlu.set_alias("MyBert", "embed.bert.small_l4_256")  # any spelling; stored canonical
    assert json.loads((config_dir / "aliases.json").read_text()) == {"mybert": "en.embed.bert.small_L4_256"}
    (comp,) = resolve("mybert")
    assert (comp.ref, comp.column) == ("en.embed.bert.small_L4_256", "en_embed_bert_small_L4_256_embeddings")
    both = resolve("MYBERT en.embed.minilm")
    assert [c.ref for c in both] == ["en.embed.bert.small_L4_256", "en.embed.minilm"]
    easynlu.remove_alias("mybert")
    assert easynlu.user_aliases() == {}
    with pytest.raises(easynlu.UnknownReferenceError, match="Unknown model reference 'mybert'"):
        resolve("mybert")


def test_useraliases_hf_sentence_prefix_kept():
    easynlu.set_alias("st", "embed_sentence:hf:sentence-transformers/all-MiniLM-L6-v2")
    (comp,) = resolve("st")
    assert (comp.ref, comp.action, comp.source) == ("hf:sentence-transformers/all-MiniLM-L6-v2", "embed_sentence", "hf")


def test_useraliases_directory_and_sentence_prefix(tmp_path, tiny_bert):
    easynlu.set_alias("tiny", f"embed_sentence:{tiny_bert}")
    (comp,) = resolve("tiny")
    assert (comp.model, comp.action, comp.source) == (str(tiny_bert), "embed_sentence", "path")
    df = easynlu.load("tiny").predict("I love NLP", progress=False)
    assert len(df) == 1 and df.columns[-1] == "tiny_bert0_embeddings"


@pytest.mark.parametrize("name, ref, message", [
    ("my bert", "en.embed.minilm", "no spaces"),
    ("embed", "en.embed.minilm", "already a catalogue name"),
    ("embed.bert.tiny", "en.embed.minilm", "already a catalogue name"),  # en. is implied
    ("two", "en.embed.minilm en.embed.bert.tiny", "one reference"),
])
def test_useraliases_refused(name, ref, message):
    with pytest.raises(easynlu.OptionError, match=message):  # an EasyNLUError and a ValueError
        easynlu.set_alias(name, ref)
    assert easynlu.user_aliases() == {}


def test_useraliases_unknown_target_refused():
    with pytest.raises(easynlu.UnknownReferenceError, match="Did you mean"):
        easynlu.set_alias("mine", "en.embed.bert.smal_L4_256")


def test_useraliases_catalogue_wins(config_dir):
    config_dir.mkdir(parents=True)
    (config_dir / "aliases.json").write_text(json.dumps({"en.embed": "en.embed.bert.small_L2_128"}))
    assert resolve("en.embed")[0].ref == "en.embed.minilm"


def test_useraliases_hand_edited_loop_does_not_recurse(config_dir):
    config_dir.mkdir(parents=True)
    (config_dir / "aliases.json").write_text(json.dumps({"a": "b", "b": "a"}))
    with pytest.raises(easynlu.UnknownReferenceError, match="'b'"):
        resolve("a")


def test_useraliases_corrupt_file_says_what_to_do(config_dir):
    config_dir.mkdir(parents=True)
    (config_dir / "aliases.json").write_text("{not json")
    with pytest.raises(easynlu.EasyNLUError, match="aliases.json is not valid.*Fix or delete it"):
        resolve("mine")


def test_useraliases_default_location_is_platformdirs(monkeypatch):
    import platformdirs

    monkeypatch.delenv("EASYNLU_CONFIG_DIR")
    assert useraliases.path() == platformdirs.user_config_path("easynlu") / "aliases.json"


def test_useraliases_remove_unknown():
    with pytest.raises(easynlu.UnknownReferenceError, match="No user alias 'nope'"):
        easynlu.remove_alias("nope")


@pytest.mark.parametrize("umask", [0o022, 0o077], ids=["022", "077"])
def test_useraliases_file_gets_the_umask_permissions(config_dir, umask):
    old = os.umask(umask)
    try:
        easynlu.set_alias("mine", "en.embed.minilm")
    finally:
        os.umask(old)
    assert stat.S_IMODE((config_dir / "aliases.json").stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in config_dir.iterdir()] == ["aliases.json"]  # no temporary file left
