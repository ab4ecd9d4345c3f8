"""The package request (docs/design.md §2 and §4), point by point."""

from __future__ import annotations

import pytest

from qps_core.errors import InvalidInput
from qps_core.models import DEFAULT_MAX_METADATA_BYTES, REQUEST_FIELDS, PackageRequest
from qps_core.settings import Settings

SRC = "s3://bkt/folder/"


def parse(body: dict | object, **context: object) -> PackageRequest:
    return PackageRequest.parse(body, **context)


def req(**fields: object) -> PackageRequest:
    return parse({"source_prefix": SRC, **fields})


def rejection(body: object, field: str | None, **context: object) -> str:
    """Expect a rejection; it is one line and (when `field` is given) names the field."""
    with pytest.raises(InvalidInput) as info:
        PackageRequest.parse(body, **context)
    message = str(info.value)
    assert message and "\n" not in message and "\r" not in message
    assert "Traceback" not in message and "pydantic" not in message.lower()
    if field is not None:
        assert field in message, f"{message!r} does not name {field!r}"
    return message


def uri_rejection(uri: object, **context: object) -> str:
    with pytest.raises(InvalidInput) as info:
        PackageRequest.from_uri(uri, **context)
    message = str(info.value)
    assert "\n" not in message and message.startswith("uri")
    return message


# -- source_prefix ----------------------------------------------------------------------------


def test_source_prefix_is_required():
    rejection({}, "source_prefix")
    rejection({"registry": "bkt", "package_name": "a/b"}, "source_prefix")


def test_source_prefix_null_is_absent_so_required():
    rejection({"source_prefix": None}, "source_prefix")


def test_source_prefix_must_be_a_string():
    rejection({"source_prefix": 5}, "source_prefix")
    rejection({"source_prefix": ["s3://bkt/a/"]}, "source_prefix")


def test_trailing_slash_is_implied():
    assert parse({"source_prefix": "s3://bkt/a/b"}).source_prefix == "s3://bkt/a/b/"


def test_trailing_slash_kept():
    assert parse({"source_prefix": "s3://bkt/a/b/"}).source_prefix == "s3://bkt/a/b/"


def test_bucket_root_source_prefix():
    assert parse({"source_prefix": "s3://bkt"}).source_prefix == "s3://bkt/"
    assert parse({"source_prefix": "s3://bkt/"}).source_prefix == "s3://bkt/"


def test_percent_encoding_is_decoded():
    request = parse({"source_prefix": "s3://bkt/my%20data/"})
    assert request.source_prefix == "s3://bkt/my data/"
    assert request.folder.prefix == "my data/"


def test_plus_in_source_prefix_is_not_a_space():
    assert parse({"source_prefix": "s3://bkt/a+b/"}).source_prefix == "s3://bkt/a+b/"


def test_invalid_percent_encoding_rejected():
    rejection({"source_prefix": "s3://bkt/%ff/"}, "source_prefix")


@pytest.mark.parametrize(
    "bucket",
    [
        "My-Bucket",  # uppercase
        "my_bucket",  # underscore
        "ab",  # too short
        "a" * 64,  # too long
        "192.168.1.1",  # IP address
        "my..bucket",  # '..'
        "xn--bucket",  # reserved prefix
        "bucket-s3alias",  # reserved suffix
        "-bucket",
        "bucket-",
        "my.-bucket",
        "sthree-bucket",
        "bucket--ol-s3",
    ],
)
def test_invalid_bucket_rejected(bucket):
    rejection({"source_prefix": f"s3://{bucket}/a/"}, "source_prefix")


@pytest.mark.parametrize("bucket", ["abc", "a" * 63, "my.bucket", "my-bucket-1", "1bucket"])
def test_valid_bucket_accepted(bucket):
    assert parse({"source_prefix": f"s3://{bucket}/a/"}).registry == bucket


def test_empty_bucket_rejected():
    rejection({"source_prefix": "s3:///a/"}, "source_prefix")


@pytest.mark.parametrize("path", ["./a/", "a/./b/", "a/../b/", "../a/", "a/..", "a/.", "a/%2e%2e/b/", "a/%2E/b/"])
def test_dot_segments_rejected(path):
    rejection({"source_prefix": f"s3://bkt/{path}"}, "source_prefix")


def test_dots_inside_a_segment_are_fine():
    assert parse({"source_prefix": "s3://bkt/a/.hidden/..x/"}).source_prefix == "s3://bkt/a/.hidden/..x/"


def test_empty_segments_rejected():
    rejection({"source_prefix": "s3://bkt/a//b/"}, "source_prefix")


def test_control_characters_rejected():
    rejection({"source_prefix": "s3://bkt/a\n/b/"}, "source_prefix")
    rejection({"source_prefix": "s3://bkt/a%0A/b/"}, "source_prefix")


@pytest.mark.parametrize(
    "uri",
    ["https://bkt/a/", "http://bkt/a/", "file:///tmp/a", "S3://bkt/a/", "s3a://bkt/a/", "bkt/a/", "/a/b", ""],
)
def test_other_schemes_rejected(uri):
    rejection({"source_prefix": uri}, "source_prefix")


@pytest.mark.parametrize("source", ["s3://bkt/.quilt/", "s3://bkt/.quilt/named_packages/a/b/"])
def test_source_prefix_under_quilt_internal_folder_rejected(source):
    rejection({"source_prefix": source}, "source_prefix")


def test_nested_quilt_folder_is_an_ordinary_folder():
    assert parse({"source_prefix": "s3://bkt/data/.quilt/x/"}).source_prefix == "s3://bkt/data/.quilt/x/"


def test_query_and_fragment_rejected_in_source_prefix():
    rejection({"source_prefix": "s3://bkt/a/?x=1"}, "source_prefix")
    rejection({"source_prefix": "s3://bkt/a/#frag"}, "source_prefix")


# -- registry -------------------------------------------------------------------------------


def test_registry_defaults_to_source_bucket():
    assert parse({"source_prefix": "s3://src-bkt/a/"}).registry == "src-bkt"


@pytest.mark.parametrize("registry", ["reg-bkt", "s3://reg-bkt", "s3://reg-bkt/"])
def test_registry_normalised_to_bucket(registry):
    assert req(registry=registry).registry == "reg-bkt"


@pytest.mark.parametrize("registry", ["s3://reg-bkt/path", "s3://reg-bkt/path/", "s3://reg-bkt/a/b"])
def test_registry_with_key_path_rejected(registry):
    rejection({"source_prefix": SRC, "registry": registry}, "registry")


@pytest.mark.parametrize("registry", ["https://reg-bkt", "Reg_Bkt", "ab", "", "reg-bkt/path", 5, True])
def test_invalid_registry_rejected(registry):
    rejection({"source_prefix": SRC, "registry": registry}, "registry")


def test_allowed_registries_accept_listed():
    assert parse({"source_prefix": SRC, "registry": "s3://ok-bkt"}, allowed_registries=("ok-bkt",)).registry == (
        "ok-bkt"
    )


def test_allowed_registries_reject_unlisted():
    message = rejection({"source_prefix": SRC, "registry": "other-bkt"}, "registry", allowed_registries=("ok-bkt",))
    assert "ok-bkt" in message


def test_allowed_registries_apply_to_the_default_registry():
    rejection({"source_prefix": SRC}, "registry", allowed_registries=("ok-bkt",))


def test_empty_allowed_registries_allow_any():
    assert parse({"source_prefix": SRC}, allowed_registries=()).registry == "bkt"


def test_allowed_registries_from_settings():
    ctx = Settings(allowed_registries=["ok-bkt"]).request_context()
    rejection({"source_prefix": SRC}, "registry", **ctx)
    assert parse({"source_prefix": "s3://ok-bkt/a/"}, **ctx).registry == "ok-bkt"


# -- package_name: explicit ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a/b", "my-project/run_7", "données/été", "ÄÖ/日本語", "A/B"])
def test_explicit_valid_name_kept_verbatim(name):
    assert req(package_name=name).package_name == name


@pytest.mark.parametrize(
    "name",
    ["a/b\n", "a/b ", " a/b", "a b/c", "a/b/c", "a", "a/", "/b", "a.b/c", "a/b.c", "", "a//b", "a/b\t", "\na/b"],
)
def test_explicit_invalid_name_rejected_not_rewritten(name):
    rejection({"source_prefix": SRC, "package_name": name}, "package_name")


def test_explicit_name_must_be_string():
    rejection({"source_prefix": SRC, "package_name": 5}, "package_name")
    rejection({"source_prefix": SRC, "package_name": ["a", "b"]}, "package_name")


# -- package_name: derived (§4) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("s3://bkt/results/run.2025-03-14/", "results/run-2025-03-14"),
        ("s3://bkt/my project/run 7/", "my-project/run-7"),
        ("s3://bkt/my%20project/run%207/", "my-project/run-7"),
        ("s3://quilt-example/omics-quilt/3395667", "omics-quilt/3395667"),
        ("s3://bkt/a/b/c/3395667/", "c/3395667"),
        ("s3://bkt/c/", "package/c"),
        ("s3://bkt/c", "package/c"),
        ("s3://bkt/", "package/root"),
        ("s3://bkt", "package/root"),
        ("s3://bkt/données/été/", "données/été"),
        ("s3://bkt/a/x+y@z!/", "a/x-y-z-"),
    ],
)
def test_derived_names(source, name):
    assert parse({"source_prefix": source}).package_name == name


def test_derived_name_defaults_via_context():
    ctx = {"default_prefix": "pkg", "default_suffix": "top"}
    assert parse({"source_prefix": "s3://bkt/c/"}, **ctx).package_name == "pkg/c"
    assert parse({"source_prefix": "s3://bkt/"}, **ctx).package_name == "pkg/top"


def test_derived_name_defaults_via_settings():
    ctx = Settings(default_prefix="runs", default_suffix="all").request_context()
    assert parse({"source_prefix": "s3://bkt/c/"}, **ctx).package_name == "runs/c"
    assert parse({"source_prefix": "s3://bkt"}, **ctx).package_name == "runs/all"
    assert parse({"source_prefix": "s3://bkt/a/b/"}, **ctx).package_name == "a/b"


def test_derived_name_is_always_valid_for_odd_folders():
    name = parse({"source_prefix": "s3://bkt/..x/.y/"}).package_name
    assert name == "--x/-y"


# -- field types --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["true", "false", 1, 0, [], {}])
def test_should_copy_must_be_json_boolean(value):
    rejection({"source_prefix": SRC, "should_copy": value}, "should_copy")


@pytest.mark.parametrize("value", [True, False])
def test_should_copy_booleans(value):
    assert req(should_copy=value).should_copy is value


def test_should_copy_defaults_false():
    assert req().should_copy is False


@pytest.mark.parametrize("field", ["message", "commit_message", "workflow"])
@pytest.mark.parametrize("value", [5, 1.5, True, ["m"], {"m": 1}])
def test_string_fields_reject_other_types(field, value):
    rejection({"source_prefix": SRC, field: value}, field.removeprefix("commit_"))


@pytest.mark.parametrize("value", [[], ["a"], "x", 5, True])
def test_metadata_must_be_object(value):
    rejection({"source_prefix": SRC, "metadata": value}, "metadata")


def test_metadata_object_kept():
    meta = {"a": [1, 2.5, None, True, {"b": "é"}]}
    assert req(metadata=meta).metadata == meta


def test_metadata_empty_object_kept():
    assert req(metadata={}).metadata == {}


def test_metadata_non_finite_rejected():
    rejection({"source_prefix": SRC, "metadata": {"a": float("nan")}}, "metadata")


def test_workflow_empty_string_means_explicitly_none():
    assert req(workflow="").workflow == ""
    assert req().workflow is None
    assert req(workflow="alpha").workflow == "alpha"


def test_non_object_body_rejected():
    body: object
    for body in (None, [], "s3://bkt/a/", 5):
        rejection(body, None)


# -- null means absent --------------------------------------------------------------------------


def test_null_equals_absent_for_every_optional_field():
    nulls = {f: None for f in REQUEST_FIELDS if f != "source_prefix"}
    assert parse({"source_prefix": SRC, **nulls}) == parse({"source_prefix": SRC})


@pytest.mark.parametrize("field", [f for f in REQUEST_FIELDS if f != "source_prefix"] + ["commit_message"])
def test_null_equals_absent_per_field(field):
    assert parse({"source_prefix": SRC, field: None}) == parse({"source_prefix": SRC})


def test_null_commit_message_with_message_is_not_both():
    assert req(message="m", commit_message=None).message == "m"
    assert req(message=None, commit_message="m").message == "m"


def test_null_metadata_with_metadata_uri_is_not_both():
    assert req(metadata=None, metadata_uri="m.json").metadata_uri == "s3://bkt/folder/m.json"
    assert req(metadata={}, metadata_uri=None).metadata == {}


# -- unknown fields and aliases ----------------------------------------------------------------


def test_unknown_field_lists_allowed_fields():
    message = rejection({"source_prefix": SRC, "bucket": "x"}, "bucket")
    for field in REQUEST_FIELDS:
        assert field in message
    assert "commit_message" in message


def test_several_unknown_fields_all_named():
    message = rejection({"source_prefix": SRC, "zzz": 1, "aaa": 2}, None)
    assert "'aaa'" in message and "'zzz'" in message


def test_unknown_field_rejected_even_when_null():
    rejection({"source_prefix": SRC, "uri": None}, "uri")


def test_uri_field_is_not_a_request_field():
    rejection({"source_prefix": SRC, "uri": "s3://bkt/a/"}, "uri")


def test_commit_message_alias():
    request = req(commit_message="hello")
    assert request.message == "hello"
    assert "commit_message" not in request.normalised()


def test_message_and_commit_message_both_rejected():
    message = rejection({"source_prefix": SRC, "message": "a", "commit_message": "b"}, "commit_message")
    assert "message" in message


def test_message_and_commit_message_both_rejected_even_when_equal():
    rejection({"source_prefix": SRC, "message": "a", "commit_message": "a"}, "commit_message")


def test_normalised_has_exactly_the_request_fields():
    # include/exclude only when set (docs/design.md §12), every other field always
    assert set(req().normalised()) == set(REQUEST_FIELDS) - {"include", "exclude"}
    assert set(req(include=["a/**"], exclude=[]).normalised()) == set(REQUEST_FIELDS)


def test_request_is_frozen():
    request = req()
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error type is an implementation detail
        request.registry = "other"  # type: ignore[misc]


# -- metadata vs metadata_uri, size --------------------------------------------------------------


def test_metadata_and_metadata_uri_are_exclusive():
    message = rejection({"source_prefix": SRC, "metadata": {"a": 1}, "metadata_uri": "m.json"}, "metadata_uri")
    assert "metadata" in message


def meta_of_size(size: int, char: str = "x") -> dict[str, str]:
    """A metadata object whose compact UTF-8 JSON is exactly `size` bytes."""
    overhead = len('{"k":""}')
    width = len(char.encode())
    assert (size - overhead) % width == 0
    return {"k": char * ((size - overhead) // width)}


def test_metadata_exactly_at_default_limit_passes():
    assert req(metadata=meta_of_size(DEFAULT_MAX_METADATA_BYTES)).metadata is not None


def test_metadata_one_byte_over_default_limit_fails():
    message = rejection({"source_prefix": SRC, "metadata": meta_of_size(DEFAULT_MAX_METADATA_BYTES + 1)}, "metadata")
    assert str(DEFAULT_MAX_METADATA_BYTES) in message


def test_default_limit_is_256_kib():
    assert DEFAULT_MAX_METADATA_BYTES == 256 * 1024
    assert Settings().max_metadata_bytes == 256 * 1024


def test_metadata_limit_counts_utf8_bytes_not_characters():
    limit = 100
    ok = meta_of_size(limit, "é")
    assert parse({"source_prefix": SRC, "metadata": ok}, max_metadata_bytes=limit)
    over = {"k": ok["k"] + "x"}
    rejection({"source_prefix": SRC, "metadata": over}, "metadata", max_metadata_bytes=limit)


def test_metadata_limit_is_compact_json_not_pretty():
    # Whitespace a client sent does not count.
    meta = {"a": [1, 2, 3], "b": {"c": "d"}}
    size = len('{"a":[1,2,3],"b":{"c":"d"}}')
    assert parse({"source_prefix": SRC, "metadata": meta}, max_metadata_bytes=size)
    rejection({"source_prefix": SRC, "metadata": meta}, "metadata", max_metadata_bytes=size - 1)


def test_metadata_limit_configurable_via_settings():
    ctx = Settings(max_metadata_bytes=50).request_context()
    assert parse({"source_prefix": SRC, "metadata": meta_of_size(50)}, **ctx)
    rejection({"source_prefix": SRC, "metadata": meta_of_size(51)}, "metadata", **ctx)


# -- metadata_uri -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "resolved"),
    [
        ("meta.json", "s3://bkt/folder/meta.json"),
        ("sub/meta.json", "s3://bkt/folder/sub/meta.json"),
        ("a/../b.json", "s3://bkt/folder/b.json"),
        ("./m.json", "s3://bkt/folder/m.json"),
        ("s3://other-bucket/m.json", "s3://other-bucket/m.json"),
        ("s3://bkt/elsewhere/m.json", "s3://bkt/elsewhere/m.json"),
        ("s3://other-bucket/my%20meta.json", "s3://other-bucket/my meta.json"),
    ],
)
def test_metadata_uri_resolution(value, resolved):
    assert req(metadata_uri=value).metadata_uri == resolved


def test_metadata_uri_relative_at_bucket_root():
    assert parse({"source_prefix": "s3://bkt", "metadata_uri": "m.json"}).metadata_uri == "s3://bkt/m.json"


@pytest.mark.parametrize("value", ["../x.json", "a/../../x.json", "../folder/m.json", "..", "a/../.."])
def test_metadata_uri_must_not_climb_out(value):
    rejection({"source_prefix": SRC, "metadata_uri": value}, "metadata_uri")


def test_metadata_uri_climbing_at_bucket_root_rejected():
    rejection({"source_prefix": "s3://bkt/", "metadata_uri": "../m.json"}, "metadata_uri")


@pytest.mark.parametrize("value", ["/abs/m.json", "/m.json"])
def test_metadata_uri_absolute_path_rejected(value):
    rejection({"source_prefix": SRC, "metadata_uri": value}, "metadata_uri")


@pytest.mark.parametrize(
    "value",
    [
        "http://host/m.json",
        "https://host/m.json",
        "file:m.json",
        "file:///tmp/m.json",
        "ftp://h/m.json",
        "gs://b/m.json",
        "S3://bkt/m.json",
        "data:application/json,{}",
    ],
)
def test_metadata_uri_other_schemes_rejected(value):
    rejection({"source_prefix": SRC, "metadata_uri": value}, "metadata_uri")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "sub/",
        "s3://other-bucket/",
        "s3://other-bucket",
        "s3://Bad_Bucket/m.json",
        "a\nb.json",
        "s3://bkt/a/../m.json",
        "./",
        5,
    ],
)
def test_metadata_uri_invalid_values_rejected(value):
    rejection({"source_prefix": SRC, "metadata_uri": value}, "metadata_uri")


@pytest.mark.parametrize("value", [".", "a/.."])
def test_metadata_uri_naming_the_folder_itself_rejected(value):
    rejection({"source_prefix": SRC, "metadata_uri": value}, "metadata_uri")


def test_metadata_uri_dot_at_bucket_root_rejected():
    rejection({"source_prefix": "s3://bkt/", "metadata_uri": "a/.."}, "metadata_uri")


# -- URI form ---------------------------------------------------------------------------------


def test_from_uri_plain_folder():
    request = PackageRequest.from_uri("s3://bkt/a/b")
    assert request.source_prefix == "s3://bkt/a/b/"
    assert request.registry == "bkt"
    assert request.package_name == "a/b"
    assert request.metadata is None


def test_from_uri_query_becomes_metadata():
    request = PackageRequest.from_uri("s3://bkt/a/b?k=v&k2=v2")
    assert request.metadata == {"k": "v", "k2": "v2"}


def test_from_uri_repeated_key_becomes_list():
    request = PackageRequest.from_uri("s3://bkt/a/?tag=x&other=1&tag=y&tag=z")
    assert request.metadata == {"tag": ["x", "y", "z"], "other": "1"}


def test_from_uri_query_is_form_decoded():
    request = PackageRequest.from_uri("s3://bkt/a/?title=my+run&note=p%20q&amp=a%26b&u=%C3%A9")
    assert request.metadata == {"title": "my run", "note": "p q", "amp": "a&b", "u": "é"}


def test_from_uri_blank_values_kept():
    assert PackageRequest.from_uri("s3://bkt/a/?k=").metadata == {"k": ""}


def test_from_uri_key_without_value_is_blank():
    assert PackageRequest.from_uri("s3://bkt/a/?flag&k=v").metadata == {"flag": "", "k": "v"}


def test_from_uri_empty_query_means_no_metadata():
    assert PackageRequest.from_uri("s3://bkt/a/?").metadata is None


def test_from_uri_path_is_percent_decoded_once():
    assert PackageRequest.from_uri("s3://bkt/my%20data").source_prefix == "s3://bkt/my data/"
    assert PackageRequest.from_uri("s3://bkt/100%25/").source_prefix == "s3://bkt/100%/"
    assert PackageRequest.from_uri("s3://bkt/a%2520b/").source_prefix == "s3://bkt/a%20b/"


def test_from_uri_plus_in_path_is_literal():
    assert PackageRequest.from_uri("s3://bkt/a+b/").source_prefix == "s3://bkt/a+b/"


@pytest.mark.parametrize("uri", ["s3://bkt", "s3://bkt/", "s3://bkt?k=v", "s3://bkt/?k=v"])
def test_from_uri_bucket_only_rejected(uri):
    uri_rejection(uri)


@pytest.mark.parametrize(
    "uri",
    [
        "https://bkt/a/",
        "s3://Bad_Bucket/a/",
        "s3://bkt/../a/",
        "s3://bkt/a//b/",
        "s3://bkt/a/#x",
        "s3://bkt/a/?k=%ff",
        5,
        None,
    ],
)
def test_from_uri_invalid_rejected(uri):
    uri_rejection(uri)


def test_from_uri_applies_context():
    ctx = Settings(allowed_registries=["ok-bkt"], default_prefix="pkg").request_context()
    assert PackageRequest.from_uri("s3://ok-bkt/c", **ctx).package_name == "pkg/c"
    with pytest.raises(InvalidInput):
        PackageRequest.from_uri("s3://bkt/c", **ctx)


def test_from_uri_metadata_obeys_size_limit():
    with pytest.raises(InvalidInput) as info:
        PackageRequest.from_uri("s3://bkt/a/?k=" + "x" * 100, max_metadata_bytes=50)
    assert "metadata" in str(info.value)


# -- every rejection is one line and names its field ---------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"source_prefix": "s3://BKT/a"}, "source_prefix"),
        ({"source_prefix": SRC, "registry": "s3://x-bkt/y"}, "registry"),
        ({"source_prefix": SRC, "package_name": "x\ny/z"}, "package_name"),
        ({"source_prefix": SRC, "metadata": [1]}, "metadata"),
        ({"source_prefix": SRC, "metadata_uri": "../\n"}, "metadata_uri"),
        ({"source_prefix": SRC, "message": 1}, "message"),
        ({"source_prefix": SRC, "workflow": False}, "workflow"),
        ({"source_prefix": SRC, "should_copy": "yes"}, "should_copy"),
        ({"source_prefix": "s3://bkt/a\n\nb/"}, "source_prefix"),
    ],
)
def test_rejections_are_one_line_and_name_the_field(body, field):
    message = rejection(body, field)
    assert message.startswith(field) or f"'{field}'" in message or field in message.split(":")[0]


def test_relative_metadata_uri_is_percent_decoded_like_an_absolute_one():
    relative = req(metadata_uri="m%20x.json").metadata_uri
    absolute = req(metadata_uri=SRC.rstrip("/") + "/m%20x.json").metadata_uri
    assert relative == absolute and relative.endswith("/m x.json")


@pytest.mark.parametrize("value", ["m.json?x=1", "m.json#frag", "a//m.json", "m%ZZ.json%FF"])
def test_relative_metadata_uri_rejects_query_fragment_empty_segment_and_bad_escapes(value):
    rejection({"source_prefix": SRC, "metadata_uri": value}, "metadata_uri")


def test_echoed_input_is_shortened_in_errors():
    message = rejection({"source_prefix": SRC, "package_name": "x" * 1_000_000}, "package_name")
    assert len(message) < 300
    message = rejection({"source_prefix": SRC, "y" * 500_000: 1}, None)
    assert len(message) < 400


@pytest.mark.parametrize("key", ["plate#1", "sample?1", "50%", "café lab"])
def test_from_uri_round_trips_keys_through_folder_uri(key):
    from qps_core.s3paths import folder_uri, parse_folder

    assert parse_folder(folder_uri("bkt", f"runs/{key}/")).prefix == f"runs/{key}/"


# -- limits checked at plan time, not at push (issue 7) ----------------------------------------------


def test_package_name_whose_pointer_keys_exceed_the_s3_key_limit_is_rejected_at_plan_time():
    from qps_core.models import MAX_PACKAGE_NAME_BYTES, NAMED_PACKAGES_PREFIX

    fits = "a" * 400 + "/" + "é" * ((MAX_PACKAGE_NAME_BYTES - 401) // 2)
    request = req(package_name=fits)
    longest_pointer = f"{NAMED_PACKAGES_PREFIX}{request.package_name}/{'9' * 20}"  # a 20-digit timestamp
    assert len(longest_pointer.encode()) <= 1024
    message = rejection({"source_prefix": SRC, "package_name": "a" * 500 + "/" + "b" * 500}, "package_name")
    assert "1024" in message and len(message) < 300


def test_derived_package_name_over_the_limit_is_rejected_at_plan_time():
    folder = "s3://bkt/" + "x" * 495 + "/" + "y" * 495 + "/"
    message = rejection({"source_prefix": folder}, "package_name")
    assert "over the limit" in message


def test_source_prefix_longer_than_an_s3_key_is_rejected():
    message = rejection({"source_prefix": "s3://bkt/" + "f" * 1024}, "source_prefix")
    assert "1024" in message and len(message) < 300


def test_metadata_uri_key_longer_than_an_s3_key_is_rejected():
    rejection({"source_prefix": SRC, "metadata_uri": "s3://bkt/" + "m" * 1025}, "metadata_uri")


def test_commit_message_over_quilt3_manifest_record_limit_is_rejected_at_plan_time():
    import quilt3.packages

    from qps_core.models import DEFAULT_MANIFEST_MAX_RECORD_BYTES

    assert quilt3.packages.DEFAULT_MANIFEST_MAX_RECORD_SIZE == DEFAULT_MANIFEST_MAX_RECORD_BYTES
    message = rejection({"source_prefix": SRC, "message": "m" * 1_000_001}, "message")
    assert "manifest-record limit of 1000000" in message and len(message) < 300
    both = {"source_prefix": SRC, "message": "m" * 900_000, "metadata": {"k": "v" * 200_000}}
    assert "metadata together" in rejection(both, "message", max_metadata_bytes=300_000)


def test_every_message_qps_accepts_fits_quilt3_manifest_record():
    """What the plan-time check lets through, quilt3 writes; what quilt3 refuses, the check refuses."""
    import io

    import quilt3

    from qps_core.models import WORKFLOW_RECORD_ROOM

    def quilt3_writes(message: str) -> bool:
        pkg = quilt3.Package()
        pkg._meta["message"] = message
        try:
            pkg.dump(io.StringIO())
        except quilt3.util.QuiltException:
            return False
        return True

    overhead = len('{"version":"v0","message":"","user_meta":{}}')
    accepted = "m" * (1_000_000 - WORKFLOW_RECORD_ROOM - overhead)
    assert req(message=accepted).message == accepted and quilt3_writes(accepted)
    refused = "m" * 1_000_000
    assert not quilt3_writes(refused)
    rejection({"source_prefix": SRC, "message": refused}, "message")


def test_manifest_record_limit_follows_quilt3_environment_variable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("QUILT_MANIFEST_MAX_RECORD_SIZE", "10000")
    assert "limit of 10000" in rejection({"source_prefix": SRC, "message": "m" * 10_001}, "message")


@pytest.mark.parametrize("field", ["source_prefix", "registry", "package_name", "metadata_uri", "message", "workflow"])
def test_lone_surrogate_in_any_string_field_is_rejected_naming_that_field(field: str):
    """Found by the fuzz tests: a lone surrogate in the path blamed `message`; in workflow it passed."""
    body = {"source_prefix": SRC, field: "x\ud800"}
    rejection(body, field)


def test_lone_surrogate_in_a_uri_form_is_invalid_input_not_a_crash():
    """Found by the fuzz tests: `{"uri": "s3://bkt/\\ud800"}` raised UnicodeEncodeError."""
    with pytest.raises(InvalidInput, match=r"^uri: holds a lone surrogate"):
        PackageRequest.from_uri("s3://bkt/\ud800")
