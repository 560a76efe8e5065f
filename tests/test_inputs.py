"""Tests for easynlu.inputs: whatever the user passes -> Documents (texts, originals, index, extra)."""

import copy
import warnings

import numpy as np
import pandas as pd
import pytest

import easynlu
from easynlu.inputs import Documents, read


def assert_docs(docs, texts, originals=None, index=None):
    assert isinstance(docs, Documents)
    assert docs.texts == texts
    assert docs.originals == (texts if originals is None else originals)
    assert len(docs) == len(texts)
    expected = pd.RangeIndex(len(texts)) if index is None else index
    pd.testing.assert_index_equal(docs.index, expected, exact=index is not None)


# --- plain Python and numpy inputs -----------------------------------------------------------


def test_inputs_str_is_one_document():
    docs = read("I love NLP")
    assert_docs(docs, ["I love NLP"])
    assert docs.extra is None


def test_inputs_empty_str_is_one_document_with_no_text():
    assert_docs(read(""), [""])


def test_inputs_list_one_document_each():
    docs = read(["a b", "c", "  "])
    assert_docs(docs, ["a b", "c", "  "])  # whitespace-only is a valid document, kept as is
    assert docs.extra is None


def test_inputs_tuple_one_document_each():
    assert_docs(read(("x", "y")), ["x", "y"])


def test_inputs_empty_list_gives_no_documents():
    docs = read([])
    assert_docs(docs, [])


def test_inputs_ndarray_unicode_dtype():
    arr = np.array(["héllo", "wörld", "😀"])
    assert arr.dtype.kind == "U"
    docs = read(arr)
    assert_docs(docs, ["héllo", "wörld", "😀"])
    assert all(type(t) is str for t in docs.originals)


def test_inputs_ndarray_object_dtype_with_missing():
    arr = np.array(["a", None, np.nan, "b"], dtype=object)
    docs = read(arr)
    assert_docs(docs, ["a", "", "", "b"], ["a", None, None, "b"])


def test_inputs_generator_is_consumed_in_order():
    docs = read(t for t in ["one", "two", "three"])
    assert_docs(docs, ["one", "two", "three"])


def test_inputs_pd_index_of_strings():
    docs = read(pd.Index(["p", "q"]))
    assert_docs(docs, ["p", "q"])


# --- pandas Series -------------------------------------------------------------------------------


def test_inputs_series_keeps_custom_index():
    s = pd.Series(["a", "b"], index=["x", "y"])
    docs = read(s)
    assert_docs(docs, ["a", "b"], index=s.index)


def test_inputs_series_keeps_duplicate_index_labels():
    s = pd.Series(["a", "b", "c"], index=[7, 7, 3])
    docs = read(s)
    assert list(docs.index) == [7, 7, 3]
    assert docs.texts == ["a", "b", "c"]


def test_inputs_series_keeps_multiindex():
    mi = pd.MultiIndex.from_tuples([("u", 1), ("u", 2), ("v", 1)], names=["user", "n"])
    s = pd.Series(["a", "b", "c"], index=mi)
    docs = read(s)
    assert isinstance(docs.index, pd.MultiIndex)
    pd.testing.assert_index_equal(docs.index, mi)
    assert docs.texts == ["a", "b", "c"]


def test_inputs_series_pandas3_default_str_dtype():
    s = pd.Series(["a", None, "c"])
    assert isinstance(s.dtype, pd.StringDtype)  # pandas >= 3 infers the str dtype
    docs = read(s)
    assert_docs(docs, ["a", "", "c"], ["a", None, "c"])


def test_inputs_series_string_pyarrow_dtype():
    s = pd.Series(["a", None, "c"], dtype="string[pyarrow]")
    assert_docs(read(s), ["a", "", "c"], ["a", None, "c"])


def test_inputs_series_categorical_dtype():
    s = pd.Series(["a", None, "a", "b"], dtype="category")
    assert_docs(read(s), ["a", "", "a", "b"], ["a", None, "a", "b"])


def test_inputs_series_all_missing_float():
    s = pd.Series([np.nan, np.nan], index=["a", "b"])
    docs = read(s)
    assert docs.originals == [None, None]
    assert docs.texts == ["", ""]
    assert list(docs.index) == ["a", "b"]


# --- missing values ------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", [None, float("nan"), np.nan, pd.NA, np.float32("nan")],
                         ids=["None", "float-nan", "np-nan", "pd-NA", "np-float32-nan"])
def test_inputs_missing_values_are_empty_documents(missing):
    docs = read(["x", missing, "y"])
    assert docs.originals == ["x", None, "y"]
    assert docs.texts == ["x", "", "y"]


def test_inputs_missing_values_in_object_series():
    s = pd.Series(["x", None, np.nan, pd.NA], dtype=object, index=list("abcd"))
    docs = read(s)
    assert docs.originals == ["x", None, None, None]
    assert docs.texts == ["x", "", "", ""]


# --- lone surrogates -----------------------------------------------------------------------------


def test_inputs_lone_surrogate_replaced_for_model_kept_in_original():
    text = "ab\ud800cd\udfff"
    docs = read([text, "plain"])
    assert docs.originals == [text, "plain"]
    assert docs.texts == ["ab\ufffdcd\ufffd", "plain"]
    assert len(docs.texts[0]) == len(text)  # offsets into the model text are offsets into the original
    docs.texts[0].encode("utf-8")  # the model text is valid UTF-8


def test_inputs_valid_non_ascii_untouched():
    text = "Café 😀 你好"
    docs = read(text)
    assert docs.texts == [text]
    assert docs.texts[0] is text or docs.texts[0] == text


# --- DataFrame -----------------------------------------------------------------------------------


def test_inputs_dataframe_text_column_named_text_wins():
    df = pd.DataFrame({"title": ["t1", "t2"], "text": ["a", "b"], "n": [1, 2]}, index=["r", "s"])
    docs = read(df)
    assert_docs(docs, ["a", "b"], index=df.index)
    assert list(docs.extra.columns) == ["title", "n"]
    assert list(docs.extra["title"]) == ["t1", "t2"]


def test_inputs_dataframe_only_string_column_is_used():
    df = pd.DataFrame({"id": [1, 2], "body": ["a", None], "score": [0.5, 1.5]})
    docs = read(df)
    assert docs.originals == ["a", None]
    assert docs.texts == ["a", ""]
    assert list(docs.extra.columns) == ["id", "score"]


def test_inputs_dataframe_text_column_argument():
    df = pd.DataFrame({"a": ["x", "y"], "b": ["p", "q"], "text": ["no", "no"]})
    docs = read(df, text_column="b")
    assert docs.texts == ["p", "q"]
    assert list(docs.extra.columns) == ["a", "text"]


def test_inputs_dataframe_text_column_argument_missing_column():
    df = pd.DataFrame({"a": ["x"], "b": ["y"]})
    with pytest.raises(easynlu.InputError) as info:
        read(df, text_column="body")
    msg = str(info.value)
    assert "'body'" in msg and "['a', 'b']" in msg


def test_inputs_dataframe_no_string_column_error_lists_columns():
    df = pd.DataFrame({"n": [1, 2], "x": [0.5, 1.0]})
    with pytest.raises(easynlu.InputError) as info:
        read(df)
    msg = str(info.value)
    assert "no string column" in msg
    assert "['n', 'x']" in msg
    assert "text_column=" in msg
    assert isinstance(info.value, TypeError)


def test_inputs_dataframe_several_string_columns_takes_the_first_with_a_warning():
    # NLU's rule (the first column), said out loud, with the way to choose
    df = pd.DataFrame({"title": ["a"], "n": [1], "body": ["b"]})
    with pytest.warns(easynlu.EasyNLUWarning) as caught:
        docs = read(df)
    assert docs.texts == ["a"] and list(docs.extra.columns) == ["n", "body"]
    (warning,) = caught
    msg = str(warning.message)
    assert "['title', 'body']" in msg and "using the first, 'title'" in msg and "text_column='title'" in msg
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read(df, text_column="body").texts == ["b"]  # choosing silences it


def test_inputs_dataframe_all_missing_object_column_is_not_a_text_column():
    df = pd.DataFrame({"empty": [None, None], "body": ["a", "b"]})
    assert read(df).texts == ["a", "b"]


def test_inputs_dataframe_categorical_column():
    df = pd.DataFrame({"n": [1, 2, 3], "label": pd.Categorical(["x", None, "x"])})
    docs = read(df)
    assert docs.originals == ["x", None, "x"]
    assert docs.texts == ["x", "", "x"]


def test_inputs_dataframe_string_pyarrow_column():
    df = pd.DataFrame({"n": [1, 2], "t": pd.Series(["x", None], dtype="string[pyarrow]")})
    docs = read(df)
    assert docs.originals == ["x", None]


def test_inputs_dataframe_pandas3_str_column():
    df = pd.DataFrame({"n": [1, 2], "t": ["x", None]})
    assert isinstance(df["t"].dtype, pd.StringDtype)
    docs = read(df)
    assert docs.originals == ["x", None]
    assert docs.texts == ["x", ""]


def test_inputs_dataframe_extra_keeps_dtypes_and_index():
    df = pd.DataFrame(
        {
            "text": ["a", "b", "c"],
            "i": np.array([1, 2, 3], dtype=np.int32),
            "f": [0.5, np.nan, 2.0],
            "c": pd.Categorical(["u", "v", "u"]),
            "s": pd.Series(["p", None, "q"], dtype="string[pyarrow]"),
            "b": [True, False, True],
            "t": pd.to_datetime(["2020-01-01", "2021-01-01", "2022-01-01"]),
        },
        index=pd.Index([10, 10, 20], name="key"),
    )
    docs = read(df)
    expected = df.drop(columns=["text"])
    pd.testing.assert_frame_equal(docs.extra, expected)
    assert docs.extra.dtypes.to_dict() == expected.dtypes.to_dict()
    pd.testing.assert_index_equal(docs.index, df.index)


def test_inputs_dataframe_multiindex_kept():
    mi = pd.MultiIndex.from_tuples([("a", 1), ("a", 1), ("b", 2)])
    df = pd.DataFrame({"text": ["x", "y", "z"], "k": [1, 2, 3]}, index=mi)
    docs = read(df)
    pd.testing.assert_index_equal(docs.index, mi)
    assert docs.texts == ["x", "y", "z"]


def test_inputs_dataframe_without_other_columns_has_no_extra():
    assert read(pd.DataFrame({"text": ["a"]})).extra is None


def test_inputs_dataframe_duplicate_text_columns_error():
    df = pd.DataFrame([["a", "b"]], columns=["text", "text"])
    with pytest.raises(easynlu.InputError, match="several columns named 'text'"):
        read(df)


def test_inputs_text_column_only_for_dataframes():
    with pytest.raises(easynlu.InputError, match="text_column='t' only applies to a DataFrame"):
        read(["a"], text_column="t")


# --- bad types -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, position, label, type_name, advice",
    [
        (["ok", b"bytes"], 1, "1", "bytes", "decode"),
        (["ok", "ok", 3], 2, "2", "int", "astype(str)"),
        ([["nested"]], 0, "0", "list", "astype(str)"),
        (("ok", {"a": 1}), 1, "1", "dict", "astype(str)"),
        (np.array([1.5, 2.5]), 0, "0", "float", "astype(str)"),
        (pd.Series(["a", "b", 5], index=["x", "y", "z"], dtype=object), 2, "'z'", "int", "astype(str)"),
        (pd.Series([1, 2], index=pd.MultiIndex.from_tuples([("u", 1), ("v", 2)])), 0, "('u', 1)", "int",
         "astype(str)"),
        (pd.DataFrame({"text": ["a", 7]}, index=["r", "s"]), 1, "'s'", "int", "astype(str)"),
        (pd.Series(["a", None, 2.5], index=[10, 20, 30]), 2, "30", "float", "astype(str)"),
    ],
    ids=["bytes", "int", "nested-list", "dict-element", "float-array", "series-label", "multiindex-label",
         "dataframe-label", "int64-label"],
)
def test_inputs_bad_element_error_names_position_label_and_type(data, position, label, type_name, advice):
    with pytest.raises(easynlu.InputError) as info:
        read(data)
    assert isinstance(info.value, TypeError)
    msg = str(info.value)
    assert f"position {position}" in msg
    assert f"index label {label}" in msg
    assert f"is {type_name}, not str" in msg
    assert advice in msg


def test_inputs_first_bad_position_is_named():
    with pytest.raises(TypeError, match="position 1 "):
        read(["a", 1, b"x"])


@pytest.mark.parametrize(
    "data, type_name", [({"a": "b"}, "dict"), (b"abc", "bytes"), (3, "int"), (None, "NoneType")]
)
def test_inputs_bad_container_type_raises(data, type_name):
    with pytest.raises(easynlu.InputError) as info:
        read(data)
    assert isinstance(info.value, TypeError)
    msg = str(info.value)
    assert f"type {type_name}" in msg
    assert "pass a str" in msg


def test_inputs_2d_array_raises():
    with pytest.raises(easynlu.InputError) as info:
        read(np.array([["a", "b"], ["c", "d"]]))
    assert isinstance(info.value, TypeError)
    assert "1-D" in str(info.value) and "(2, 2)" in str(info.value)


# --- the caller's object is never mutated --------------------------------------------------------


def test_inputs_list_not_mutated():
    data = ["a\ud800", None, float("nan"), "b"]
    before = copy.deepcopy(data)
    read(data)
    assert data[0] == before[0] and data[1] is None and np.isnan(data[2]) and data[3] == "b"
    assert len(data) == 4


def test_inputs_ndarray_not_mutated():
    arr = np.array(["a\ud800", None, "c"], dtype=object)
    before = arr.copy()
    read(arr)
    assert arr.tolist() == before.tolist()


def test_inputs_series_not_mutated():
    s = pd.Series(["a", None, "c\udfff"], index=[3, 3, 1], name="s", dtype=object)
    before = s.copy(deep=True)
    read(s)
    pd.testing.assert_series_equal(s, before)


def test_inputs_dataframe_not_mutated():
    df = pd.DataFrame(
        {
            # a str column cannot hold a lone surrogate (pyarrow rejects it); object can
            "text": pd.Series(["a", None, "b\ud800"], dtype=object, index=["r", "r", "s"]),
            "n": [1, 2, 3],
            "c": pd.Categorical(["x", "y", "x"]),
        },
        index=["r", "r", "s"],
    )
    before = df.copy(deep=True)
    docs = read(df)
    assert docs.originals == ["a", None, "b\ud800"]
    assert docs.texts == ["a", "", "b\ufffd"]
    pd.testing.assert_frame_equal(df, before)
    # changing the carried columns afterwards does not reach the caller's frame
    docs.extra.loc[:, "n"] = [9, 9, 9]
    pd.testing.assert_frame_equal(df, before)
