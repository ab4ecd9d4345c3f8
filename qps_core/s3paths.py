"""S3 URIs, bucket names, object keys and package names: the rules shared by every adapter."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, unquote_plus

from .errors import InvalidInput, shown

_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IPV4_RE = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
_BAD_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BAD_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_NAME_PART_RE = re.compile(r"[\w-]+")
_NAME_RE = re.compile(r"[\w-]+/[\w-]+")
_NOT_NAME_CHAR_RE = re.compile(r"[^\w-]")
QUILT_PREFIX = ".quilt/"


def check_bucket(name: str, field: str = "bucket") -> str:
    """Return a valid S3 bucket name or raise InvalidInput naming the field."""
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{field}: bucket name is empty")
    if (
        not _BUCKET_RE.fullmatch(name)
        or ".." in name
        or ".-" in name
        or "-." in name
        or _IPV4_RE.fullmatch(name)
        or name.startswith(_BAD_BUCKET_PREFIXES)
        or name.endswith(_BAD_BUCKET_SUFFIXES)
    ):
        raise InvalidInput(f"{field}: {shown(name)} is not a valid S3 bucket name")
    return name


@dataclass(frozen=True, slots=True)
class S3Folder:
    """A folder in S3: `bucket` plus a `prefix` that is empty (bucket root) or ends with '/'."""

    bucket: str
    prefix: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def parts(self) -> list[str]:
        return [p for p in self.prefix.split("/") if p]


def _check_key_path(path: str, field: str) -> str:
    if any(ord(c) < 0x20 or c == "\x7f" for c in path):
        raise InvalidInput(f"{field}: the S3 path holds a control character")
    segments = path.split("/")
    inner = segments[:-1] if segments and segments[-1] == "" else segments
    for seg in inner:
        if seg in (".", ".."):
            raise InvalidInput(f"{field}: the S3 path must not contain '.' or '..' segments")
        if seg == "" and path:
            raise InvalidInput(f"{field}: the S3 path must not contain empty segments ('//')")
    return path


def split_s3_uri(uri: object, field: str, *, allow_query: bool = False) -> tuple[str, str, str]:
    """Split `s3://bucket/path?query` into (bucket, decoded path, raw query); validate both parts."""
    if not isinstance(uri, str):
        raise InvalidInput(f"{field}: must be a string")
    if not _is_unicode(uri):
        raise InvalidInput(f"{field}: holds a lone surrogate (not valid Unicode)")
    if not uri.startswith("s3://"):
        scheme = uri.split("://", 1)[0] if "://" in uri else ""
        what = f"scheme {shown(scheme, 40)}" if scheme else "no scheme"
        raise InvalidInput(f"{field}: must be an s3:// URI, got {what}")
    rest = uri[5:]
    query = ""
    if "#" in rest:
        raise InvalidInput(f"{field}: an S3 URI must not contain a fragment ('#'); percent-encode a literal '#' as %23")
    if "?" in rest:
        if not allow_query:
            raise InvalidInput(
                f"{field}: an S3 URI here must not contain a query string ('?'); percent-encode a literal '?' as %3F"
            )
        rest, query = rest.split("?", 1)
    bucket, _, path = rest.partition("/")
    check_bucket(bucket, field)
    if "%" in path:
        try:
            path = unquote(path, errors="strict")
        except UnicodeDecodeError:
            raise InvalidInput(f"{field}: the S3 path is not valid percent-encoded UTF-8") from None
    return bucket, _check_key_path(path, field), query


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_folder(uri: object, field: str = "source_prefix") -> S3Folder:
    """`s3://bucket/a/b` or `s3://bucket/a/b/` → S3Folder(bucket, 'a/b/'); a trailing '/' is implied."""
    bucket, path, _ = split_s3_uri(uri, field)
    if path and not path.endswith("/"):
        path += "/"
    return S3Folder(bucket, path)


def folder_uri(bucket: str, path: str) -> str:
    """`s3://bucket/path` for a decoded key or prefix, percent-encoded so that parsing gives it back
    exactly (a key may hold '%', '?', '#', spaces or any Unicode)."""
    return f"s3://{bucket}/{quote(path, safe='/')}"


def decode_event_key(raw_key: str) -> str:
    """Object keys in S3 events are form-encoded ('+' for space)."""
    return unquote_plus(raw_key)


def folder_of_key(key: str) -> str:
    """The folder holding `key`, with a trailing '/' (or '' at the bucket root)."""
    head, sep, _ = key.rpartition("/")
    return head + sep


def basename(key: str) -> str:
    return key.rpartition("/")[2]


def is_quilt_internal(key: str) -> bool:
    """Keys under the bucket-root `.quilt/` prefix belong to package pushes and are never claimed."""
    return key.startswith(QUILT_PREFIX) or key == ".quilt"


def check_package_name(name: object, field: str = "package_name") -> str:
    if not isinstance(name, str):
        raise InvalidInput(f"{field}: must be a string")
    if not _NAME_RE.fullmatch(name):
        raise InvalidInput(
            f"{field}: {shown(name)} is not a valid package name; use 'prefix/suffix' with letters, digits, '_' or '-'"
        )
    return name


def derive_package_name(folder: S3Folder, default_prefix: str = "package", default_suffix: str = "root") -> str:
    """Last two path components, each character outside [\\w-] replaced by '-' (docs/design.md §4)."""
    parts = [_NOT_NAME_CHAR_RE.sub("-", p) for p in folder.parts()[-2:]]
    if len(parts) == 2:
        return f"{parts[0]}/{parts[1]}"
    if len(parts) == 1:
        return f"{default_prefix}/{parts[0]}"
    return f"{default_prefix}/{default_suffix}"


def valid_name_part(part: str) -> bool:
    return bool(_NAME_PART_RE.fullmatch(part))
