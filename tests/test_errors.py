"""One error tree: everything a user can cause is an EasyNLUError that keeps its builtin base."""

import pytest

import easynlu
from easynlu import errors

ERRORS = {
    "UnknownReferenceError": KeyError,
    "OptionError": ValueError,
    "OptionTypeError": TypeError,
    "ModelUnavailableError": RuntimeError,
    "ModelPathNotFoundError": FileNotFoundError,
    "InputError": TypeError,
    "DeviceError": RuntimeError,
    "OutOfMemoryError": RuntimeError,
}


@pytest.mark.parametrize("name, builtin", ERRORS.items())
def test_errors_every_error_is_exported_and_keeps_its_builtin_base(name, builtin):
    cls = getattr(easynlu, name)
    assert cls is getattr(errors, name) and name in easynlu.__all__
    assert issubclass(cls, easynlu.EasyNLUError) and issubclass(cls, builtin)


def test_errors_input_and_option_type_errors_are_value_errors_too():
    assert issubclass(easynlu.InputError, ValueError) and issubclass(easynlu.OptionTypeError, ValueError)
    assert issubclass(easynlu.OutOfMemoryError, easynlu.DeviceError)


def test_errors_model_unavailable_carries_tried_and_fix():
    err = easynlu.ModelUnavailableError("Cannot find X.", ["the cache: not there", "the Hub: offline"], "go online")
    assert err.summary == "Cannot find X." and err.tried == ("the cache: not there", "the Hub: offline")
    assert err.fix == "go online"
    assert str(err) == "Cannot find X.\nTried:\n  - the cache: not there\n  - the Hub: offline\nTo fix: go online"
    bare = easynlu.ModelUnavailableError("Broken.")
    assert (str(bare), bare.tried, bare.fix) == ("Broken.", (), "")


def test_errors_model_path_not_found_is_a_model_unavailable_file_not_found():
    assert issubclass(easynlu.ModelPathNotFoundError, easynlu.ModelUnavailableError)
    err = easynlu.ModelPathNotFoundError("'x': the path '/x' does not exist.", path="/x", fix="check it")
    assert str(err) == "'x': the path '/x' does not exist.\nTo fix: check it" and err.path == "/x"


@pytest.mark.parametrize("call", [lambda: easynlu.load(path="/missing"), lambda: easynlu.load("/missing/dir"),
                                  lambda: easynlu.load("./typo-dir")], ids=["path=", "absolute", "relative"])
def test_errors_a_missing_path_is_a_missing_file(call, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist") as info:
        call()
    assert isinstance(info.value, easynlu.ModelPathNotFoundError) and "catalogue" not in str(info.value)


def test_errors_unknown_reference_message_is_not_quoted():
    err = easynlu.UnknownReferenceError("Unknown model reference 'x'.", ref="x", suggestions=["a"])
    assert str(err) == "Unknown model reference 'x'." and err.suggestions == ("a",)


@pytest.mark.parametrize("call", [
    lambda: easynlu.load(42),
    lambda: easynlu.load("embed_sentence:hf:a/b hf:a/b"),
    lambda: easynlu.load("en.embed.bert.smal"),
    lambda: easynlu.load("embed").predict("x", output_level="words"),
    lambda: easynlu.load("embed").embed(["x"], batch_size=-1),
    lambda: easynlu.load("embed").predict({"a": 1}),
    lambda: easynlu.load("embed").predict("x", layers=[99]),
    lambda: easynlu.load("en.embed.bert.large_cased", offline=True).predict("x"),
    lambda: easynlu.load("embed", device="cuda:7").predict("x"),
    lambda: easynlu.set_alias("two words", "embed"),
    lambda: easynlu.remove_alias("never-set"),
    lambda: easynlu.unload("no.such.model"),
], ids=["request-type", "same-column-twice", "unknown-ref", "level", "batch-size", "input", "layers",
        "offline", "device", "alias-name", "alias-missing", "unload-unknown"])
def test_errors_one_except_catches_every_user_mistake(call):
    with pytest.raises(easynlu.EasyNLUError):
        call()
