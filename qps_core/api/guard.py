"""What every request passes before any route (the API, the admin page, /docs, routes added later):

- **Host allow-list**: the server answers only the hosts it is meant for: loopback (`127.0.0.1`,
  `localhost`, `[::1]`), the address `qps serve` listens on, the names in the `allowed_hosts`
  setting and, in Lambda, the domain AWS routed the request on (`requestContext.domainName`).
  Another `Host` is 421 (a DNS-rebinding page names its own host); none or a malformed one is 400.
- **Cross-site refusal**: a state-changing request (not GET/HEAD/OPTIONS) without a bearer token (or
  SigV4 signature) is refused with 403 when the browser says it comes from another site
  (`Sec-Fetch-Site: cross-site`/`same-site`) or its `Origin` is not the server's own (the request's
  `Host`, or a name listed in `allowed_hosts`, for a proxy that does not pass the Host on). A browser
  cannot add an `Authorization` header across origins without a CORS preflight, which QPS never
  grants, so requests that carry one are not a browser's cross-site request.
- **JSON only**: a state-changing request to `/v1/...` with a body that is not `application/json`
  or `application/*+json` (parameters such as charset allowed) is 415; `JsonBody` checks the same
  for routes that read a body (docs/api.md).

A pure ASGI middleware (installed by `create_app`), answering problem+json itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .problems import ApiProblem, problem_response

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})
_JSON_TYPE = re.compile(r"^application/(?:[a-z0-9!#$&^_.+-]+\+)?json$")
_NAME = re.compile(r"^[a-z0-9_.-]+$")
_SIGNED = ("bearer ", "aws4-hmac-sha256 ")


def is_json_type(content_type: str | None) -> bool:
    """`application/json` or `application/*+json`, with any parameters (charset)."""
    return bool(content_type) and bool(_JSON_TYPE.match(str(content_type).split(";", 1)[0].strip().lower()))


def split_host(value: str) -> tuple[str, int | None] | None:
    """`host[:port]` (an IPv6 address in brackets) as (lower-case host, port or None); None if malformed."""
    value = value.strip().lower()
    port = ""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[1:end], value[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                return None
            port = rest[1:]
        if not host or not all(c in "0123456789abcdef:." for c in host):
            return None
    else:
        host, _, port = value.partition(":")
        host = host.rstrip(".")
        if not _NAME.match(host or "-") or not host:
            return None
    if port and not (port.isdigit() and int(port) < 65536):
        return None
    return host, int(port) if port else None


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    for name in allowed:
        if name == "*" or host == name or (name.startswith(".") and (host.endswith(name) or host == name[1:])):
            return True
    return False


def _same_origin(origin: str, host_header: str) -> bool:
    """Whether `Origin` names the host (and port) the request was sent to (default ports ignored)."""
    scheme, sep, rest = origin.strip().lower().partition("://")
    if not sep or scheme not in ("http", "https") or "/" in rest:
        return False
    mine, theirs = split_host(host_header), split_host(rest)
    if mine is None or theirs is None:
        return False
    default = 443 if scheme == "https" else 80
    their_port = None if theirs[1] == default else theirs[1]
    my_port = None if mine[1] in (80, 443) else mine[1]
    return (theirs[0], their_port) == (mine[0], my_port)


class Guard:
    """The middleware. `bound`: the address `qps serve` listens on (a wildcard adds nothing)."""

    def __init__(self, app: Any, bound: Iterable[str] = ()) -> None:
        self.app = app
        hosts = {b.strip("[]").lower() for b in bound}
        self.bound = frozenset(hosts - WILDCARD_BINDS)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.check(scope)
        if refusal is not None:
            await problem_response(refusal)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def allowed_hosts(self, scope: dict[str, Any]) -> set[str]:
        hosts = set(LOOPBACK_HOSTS | self.bound)
        app = scope.get("app")
        context = getattr(getattr(app, "state", None), "context", None)
        if context is not None:
            hosts.update(context.settings.allowed_hosts)
        event = scope.get("aws.event") or {}  # Lambda (Mangum): the domain AWS routed the request on
        domain = (event.get("requestContext") or {}).get("domainName")
        if domain:
            hosts.add(str(domain).lower().rstrip("."))
        return hosts

    def own_origin(self, scope: dict[str, Any], origin: str, host_header: str) -> bool:
        """The request's own origin, or (behind a proxy that does not pass the Host on) a name the
        `allowed_hosts` setting lists explicitly."""
        if _same_origin(origin, host_header):
            return True
        context = getattr(getattr(scope.get("app"), "state", None), "context", None)
        named = [h for h in (context.settings.allowed_hosts if context is not None else []) if h != "*"]
        scheme, sep, rest = origin.strip().lower().partition("://")
        parsed = split_host(rest) if sep and scheme in ("http", "https") and "/" not in rest else None
        return parsed is not None and bool(named) and host_allowed(parsed[0], named)

    def check(self, scope: dict[str, Any]) -> ApiProblem | None:
        headers: dict[str, str] = {}
        for key, value in scope.get("headers") or ():
            name = key.decode("latin-1").lower()
            if name in headers and name == "host":
                return ApiProblem(400, "more than one Host header", slug="bad-host", title="Bad Host header")
            headers[name] = value.decode("latin-1")
        raw_host = headers.get("host")
        parsed = split_host(raw_host) if raw_host else None
        if parsed is None:
            return ApiProblem(400, "a valid Host header is required", slug="bad-host", title="Bad Host header")
        if not host_allowed(parsed[0], self.allowed_hosts(scope)):
            return ApiProblem(
                421,
                f"this server does not answer for host {parsed[0]!r} (add it to the allowed_hosts setting)",
                slug="host-not-allowed",
                title="Host not allowed",
            )
        if scope.get("method", "GET").upper() in SAFE_METHODS:
            return None
        site = headers.get("sec-fetch-site", "").strip().lower()
        origin = headers.get("origin")
        signed = headers.get("authorization", "").lower().startswith(_SIGNED)
        if not signed and (
            site in ("cross-site", "same-site")
            or (origin is not None and not self.own_origin(scope, origin, raw_host or ""))
        ):
            why = f"Origin {origin}" if origin is not None else f"Sec-Fetch-Site {site}"
            return ApiProblem(
                403,
                f"cross-site request refused ({why}): use the admin page itself, or send a bearer token",
                slug="cross-site",
                title="Cross-site request refused",
            )
        path = str(scope.get("path", ""))
        if path.startswith("/v1/") and _has_body(headers) and not is_json_type(headers.get("content-type")):
            return unsupported(headers.get("content-type"))
        return None


def _has_body(headers: dict[str, str]) -> bool:
    length = headers.get("content-length", "").strip()
    return "transfer-encoding" in headers or (bool(length) and length != "0")


def unsupported(content_type: str | None) -> ApiProblem:
    sent = f"Content-Type {content_type!r}" if content_type else "no Content-Type"
    return ApiProblem(415, f"the body must be JSON (Content-Type: application/json); got {sent}")
