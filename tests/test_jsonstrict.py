"""Strict JSON parsing (qps_core.jsonstrict): every rule of docs/design.md §2's "Strict JSON" sentence."""

from __future__ import annotations

import json
import time

import pytest

from qps_core import envelopes
from qps_core.errors import InvalidInput
from qps_core.jsonstrict import MAX_DEPTH, check_value, dumps_compact, loads


def rejected(data: str | bytes, **kwargs: object) -> str:
    """Parse `data`, expect InvalidInput, return its message (checked to be one line)."""
    with pytest.raises(InvalidInput) as info:
        loads(data, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert message, "an error needs a message"
    assert "\n" not in message and "\r" not in message
    assert message.startswith("invalid JSON")
    return message


# -- encoding -------------------------------------------------------------------------------


def test_utf8_bytes_are_decoded():
    assert loads('{"name": "données été 😀"}'.encode()) == {"name": "données été 😀"}


def test_bytearray_is_accepted():
    assert loads(bytearray(b'{"a": 1}')) == {"a": 1}


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": "\xff"}',  # never valid in UTF-8
        b'{"a": "\xc3"}',  # truncated two-byte sequence
        b'{"a": "\xc0\xaf"}',  # overlong encoding of '/'
        b'"\xed\xa0\x80"',  # UTF-8-encoded surrogate (CESU-8)
        b'{"a": "caf\xe9"}',  # Latin-1
    ],
)
def test_invalid_utf8_bytes_are_rejected(data):
    assert "UTF-8" in rejected(data)


def test_utf16_is_rejected():
    rejected('{"a": 1}'.encode("utf-16"))
    rejected('{"a": 1}'.encode("utf-16-le"))


def test_utf8_bom_in_bytes_is_skipped():
    assert loads(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


def test_bom_alone_is_not_a_document():
    rejected(b"\xef\xbb\xbf")


def test_bom_only_skipped_once_and_only_at_start():
    rejected(b'\xef\xbb\xbf\xef\xbb\xbf{"a": 1}')
    rejected(b'{"a": 1}\xef\xbb\xbf')


def test_bom_in_text_input_is_rejected():
    # The BOM is a byte-level marker; a str that starts with U+FEFF is not JSON.
    rejected('\ufeff{"a": 1}')


# -- NaN / Infinity -------------------------------------------------------------------------


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_constants_rejected(constant):
    message = rejected(f'{{"a": [1, {constant}]}}')
    assert constant in message


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_constants_rejected_at_top_level(constant):
    rejected(constant)


@pytest.mark.parametrize("number", ["1e400", "-1e400", '{"a": [1e999]}'])
def test_overflowing_number_is_rejected(number):
    rejected(number)


def test_large_finite_numbers_are_fine():
    assert loads("1e300") == 1e300
    assert loads("12345678901234567890") == 12345678901234567890


def test_huge_integer_is_a_clean_invalid_input():
    rejected("1" * 5000)


def test_huge_integer_error_is_at_least_a_value_error():
    # InvalidInput is a ValueError, so callers catching ValueError are safe either way.
    with pytest.raises(ValueError):
        loads("[" + "9" * 5000 + "]")


# -- duplicate keys -------------------------------------------------------------------------


def test_duplicate_key_rejected():
    message = rejected('{"a": 1, "a": 2}')
    assert "duplicate key" in message and "'a'" in message


def test_duplicate_key_rejected_even_with_equal_values():
    rejected('{"a": 1, "a": 1}')


def test_nested_duplicate_key_rejected():
    assert "'b'" in rejected('{"a": {"x": [1, {"b": 1, "b": 2}]}}')


def test_duplicate_key_inside_list_of_objects_rejected():
    rejected('[{"k": 1}, {"k": 1, "k": 2}]')


def test_same_key_in_sibling_objects_is_fine():
    assert loads('[{"k": 1}, {"k": 2}]') == [{"k": 1}, {"k": 2}]


def test_keys_equal_after_escape_decoding_are_duplicates():
    rejected('{"a": 1, "\\u0061": 2}')


def test_duplicate_key_with_newline_message_stays_one_line():
    rejected('{"a\\nb": 1, "a\\nb": 2}')


# -- lone surrogates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '"\\ud800"',
        '"\\udfff"',
        '"abc\\ud83d"',  # high surrogate without its pair
        '"\\ude00x"',  # low surrogate first
        '{"a": ["ok", "\\udbff"]}',
        '{"a": {"b": "\\ud800"}}',
    ],
)
def test_lone_surrogate_values_rejected(text):
    assert "surrogate" in rejected(text)


@pytest.mark.parametrize("text", ['{"\\ud800": 1}', '{"ok": {"\\udc00x": 1}}'])
def test_lone_surrogate_keys_rejected(text):
    assert "surrogate" in rejected(text)


def test_lone_surrogate_in_text_input_rejected():
    rejected('"\ud800"')


def test_surrogate_pair_is_fine():
    assert loads('"\\ud83d\\ude00"') == "😀"
    assert loads('{"\\ud83d\\ude00": 1}') == {"😀": 1}


# -- nesting depth --------------------------------------------------------------------------


def nested_lists(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_objects(depth: int) -> str:
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


def test_depth_exactly_at_limit_passes():
    value = loads(nested_lists(MAX_DEPTH))
    for _ in range(MAX_DEPTH - 1):
        value = value[0]
    assert value == []


def test_depth_one_over_limit_fails():
    assert str(MAX_DEPTH) in rejected(nested_lists(MAX_DEPTH + 1))


def test_object_depth_at_and_over_limit():
    assert isinstance(loads(nested_objects(MAX_DEPTH)), dict)
    rejected(nested_objects(MAX_DEPTH + 1))


def test_mixed_depth_over_limit_fails():
    rejected('{"a": [' * 33 + "1" + "]}" * 33)  # 66 containers


def test_scalars_do_not_count_as_a_level():
    assert loads("[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH) is not None


def test_custom_max_depth():
    assert loads(nested_lists(3), max_depth=3) == [[[]]]
    rejected(nested_lists(4), max_depth=3)


def test_brackets_inside_strings_do_not_count():
    text = '["' + "[" * 500 + "{" * 500 + '"]'
    assert loads(text) == ["[" * 500 + "{" * 500]


def test_escaped_quote_inside_string_does_not_confuse_depth_guard():
    text = '["\\"' + "[" * 200 + '"]'
    assert loads(text) == ['"' + "[" * 200]


def test_many_shallow_containers_are_fine():
    text = "[" + ",".join(["[]"] * 5000) + "]"
    assert len(loads(text)) == 5000


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_very_deep_input_fails_fast_and_cleanly(opener):
    text = opener * 100_000
    start = time.perf_counter()
    message = rejected(text)  # a RecursionError would fail this (it is not InvalidInput)
    assert time.perf_counter() - start < 2
    assert "nesting" in message


def test_very_deep_balanced_input_fails_cleanly():
    rejected(nested_lists(100_000))


def test_check_value_bounds_depth_of_parsed_values():
    value: list = []
    for _ in range(MAX_DEPTH):
        value = [value]
    with pytest.raises(InvalidInput):
        check_value(value)
    assert check_value(value[0]) is value[0]


# -- trailing data and empty input -----------------------------------------------------------


@pytest.mark.parametrize("text", ['{"a": 1} {"b": 2}', "[1] [2]", '{"a": 1}x', "1 2", '"a""b"', "{}}"])
def test_trailing_data_rejected(text):
    rejected(text)


def test_surrounding_json_whitespace_is_fine():
    assert loads(' \t\r\n{"a": 1} \n\t ') == {"a": 1}


def test_non_json_whitespace_is_rejected():
    rejected('{"a": 1}\u00a0')
    rejected('\u2028{"a": 1}')


@pytest.mark.parametrize("text", ["", "   ", b"", "{", '{"a": }', "[1,]", "{'a': 1}", "undefined"])
def test_malformed_documents_rejected(text):
    rejected(text)


def test_scalars_at_top_level_are_valid_json():
    assert loads("1") == 1
    assert loads('"x"') == "x"
    assert loads("null") is None


# -- check_value and dumps_compact -----------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_check_value_rejects_non_finite_floats(bad):
    with pytest.raises(InvalidInput) as info:
        check_value({"a": [1, {"b": bad}]})
    assert "\n" not in str(info.value)


def test_check_value_rejects_lone_surrogates_in_keys_and_values():
    with pytest.raises(InvalidInput):
        check_value({"\ud800": 1})
    with pytest.raises(InvalidInput):
        check_value(["ok", {"a": "\udfff"}])


def test_check_value_returns_good_values():
    value = {"a": [1, 2.5, "é", None, True, {"b": []}]}
    assert check_value(value) is value


def test_dumps_compact_is_compact_and_utf8():
    assert dumps_compact({"a": [1, "é"]}) == '{"a":[1,"é"]}'


def test_dumps_compact_refuses_nan():
    with pytest.raises(ValueError):
        dumps_compact({"a": float("nan")})


def test_every_error_type_is_invalid_input_and_one_line():
    samples: list[str | bytes] = [
        b"\xff",
        "NaN",
        '{"a":1,"a":2}',
        '"\\ud800"',
        nested_lists(MAX_DEPTH + 1),
        "[" * 100_000,
        "{} {}",
        "{\n\n\n",
    ]
    for data in samples:
        rejected(data)


def test_every_default_depth_bound_is_the_module_bound():
    # loads, check_value and envelope unwrapping share one default bound (it once compared MAX_DEPTH with itself)
    too_deep = nested_lists(MAX_DEPTH + 1)
    assert MAX_DEPTH > 1
    assert str(MAX_DEPTH) in rejected(too_deep)
    with pytest.raises(InvalidInput, match=str(MAX_DEPTH)):
        check_value(json.loads(too_deep))
    [event] = envelopes.unwrap_bytes(too_deep)
    assert event.kind == "broken" and str(MAX_DEPTH) in (event.note or "")
