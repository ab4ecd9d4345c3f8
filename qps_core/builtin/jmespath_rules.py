"""Compiling user rules: the JMESPath engine behind `mapped` (imported only when a rules file is set,
so a cold start without rules never loads jmespath or tomllib)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jmespath
from jmespath import functions
from jmespath.exceptions import JMESPathError

from ..adapter_api import ConfigError, RejectedEvent
from ..errors import clip, one_line
from ..models import BODY_KEYS
from ..s3paths import basename, folder_of_key, folder_uri, valid_name_part


class _Functions(functions.Functions):
    """Extra JMESPath functions for S3 paths."""

    @functions.signature({"types": ["string"]})
    def _func_dirname(self, key: str) -> str:
        return folder_of_key(key)

    @functions.signature({"types": ["string"]})
    def _func_basename(self, key: str) -> str:
        return basename(key)

    @functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_s3_uri(self, bucket: str, key: str) -> str:
        return folder_uri(bucket, key)


OPTIONS = jmespath.Options(custom_functions=_Functions())


@dataclass(frozen=True)
class Rule:
    name: str
    match: Any  # compiled jmespath expression
    request: dict[str, Any]
    description: str = ""

    def matches(self, data: dict[str, Any]) -> bool:
        try:
            return _truthy(self.match.search(data, options=OPTIONS))
        except JMESPathError:  # e.g. a function applied to a field this event lacks
            return False

    def build(self, data: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for field, expression in self.request.items():
            try:
                value = expression.search(data, options=OPTIONS)
            except JMESPathError as exc:
                raise RejectedEvent(f"rule {self.name!r}: {field}: {clip(exc)}") from None
            if value is not None:
                body[field] = value
        return body


def _truthy(value: Any) -> bool:
    return value not in (None, False, "", [], {})


def _compile(rule_name: str, what: str, expression: Any) -> Any:
    if not isinstance(expression, str) or not expression.strip():
        raise ConfigError(f"rule {rule_name!r}: {what} must be a JMESPath expression string")
    try:
        return jmespath.compile(expression)
    except JMESPathError as exc:
        raise ConfigError(f"rule {rule_name!r}: invalid {what} expression: {one_line(exc)}") from None


def load_rules(path: Path) -> list[Rule]:
    """Read and compile a YAML or TOML rules file; any problem is one ConfigError naming the rule."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"rules file {path}: {exc.strerror}") from None
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:
        raise ConfigError(f"rules file {path} cannot be parsed: {one_line(exc)}") from None
    raw_rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(raw_rules, list):
        raise ConfigError(f"rules file {path} must hold a list named 'rules'")
    rules: list[Rule] = []
    seen: set[str] = set()
    for position, raw in enumerate(raw_rules, 1):
        if not isinstance(raw, dict):
            raise ConfigError(f"rules file {path}: rule #{position} must be a mapping")
        name = raw.get("name")
        if not isinstance(name, str) or not valid_name_part(name):
            raise ConfigError(f"rules file {path}: rule #{position} needs a name of letters, digits, '_' or '-'")
        if name in seen:
            raise ConfigError(f"rules file {path}: rule name {name!r} is used twice")
        seen.add(name)
        unknown = sorted(set(raw) - {"name", "description", "match", "request"})
        if unknown:
            raise ConfigError(f"rule {name!r}: unknown key {', '.join(map(repr, unknown))}")
        request = raw.get("request")
        if not isinstance(request, dict) or not request:
            raise ConfigError(f"rule {name!r}: 'request' must map request fields to JMESPath expressions")
        bad = sorted(set(request) - set(BODY_KEYS))
        if bad:
            raise ConfigError(f"rule {name!r}: unknown request field {', '.join(map(repr, bad))}")
        rules.append(
            Rule(
                name=name,
                match=_compile(name, "match", raw.get("match")),
                request={field: _compile(name, field, expr) for field, expr in request.items()},
                description=str(raw.get("description") or ""),
            )
        )
    return rules
