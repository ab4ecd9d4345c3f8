"""Bearer tokens checked against their SHA-256 (docs/design.md §7).

`api_tokens` and `admin_tokens` list accepted tokens as `sha256:<hex>`; a token is never stored,
logged or echoed. Admin tokens are valid on every route and the only ones allowed on admin routes.
With no token configured every caller is let in: `qps serve` then binds to loopback only, and in
AWS the Function URL's IAM auth has already authenticated the caller.

Routers use the dependencies `caller` (any valid token) and `admin_caller` (an admin token).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from .problems import ApiProblem

HASH_PREFIX = "sha256:"


@dataclass(frozen=True)
class Caller:
    """Who is asking. `scope` keys Idempotency-Keys: never the token itself."""

    scope: str
    admin: bool


def hash_token(token: str) -> str:
    return HASH_PREFIX + hashlib.sha256(token.encode("utf-8")).hexdigest()


def mint_token() -> tuple[str, str]:
    """A new random token and the `sha256:<hex>` line to put in `api_tokens` or `admin_tokens`."""
    token = "qps_" + secrets.token_urlsafe(32)
    return token, hash_token(token)


def tokens_configured(settings: Any) -> bool:
    return bool(settings.api_tokens or settings.admin_tokens)


def _matches(digest: str, hashes: list[str]) -> bool:
    found = False
    for candidate in hashes:  # compare with every one, in constant time each
        found |= hmac.compare_digest(digest, candidate.lower())
    return found


def _iam_principal(request: Request) -> str | None:
    """The IAM caller of a Function URL with AWS_IAM auth (Mangum keeps the Lambda event)."""
    event = request.scope.get("aws.event") or {}
    iam = ((event.get("requestContext") or {}).get("authorizer") or {}).get("iam") or {}
    principal = iam.get("userArn") or iam.get("callerId")
    return str(principal) if principal else None


def authenticate(request: Request) -> Caller:
    settings = request.app.state.context.settings
    if not tokens_configured(settings):
        return Caller(scope=_iam_principal(request) or "local", admin=True)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiProblem(401, "a bearer token is required (Authorization: Bearer <token>)", headers=_CHALLENGE)
    digest = hash_token(token.strip())
    if _matches(digest, settings.admin_tokens):
        return Caller(scope="token:" + digest[7:23], admin=True)
    if _matches(digest, settings.api_tokens):
        return Caller(scope="token:" + digest[7:23], admin=False)
    raise ApiProblem(401, "the bearer token is not valid", headers=_CHALLENGE)


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="qps"'}


def caller(request: Request) -> Caller:
    """FastAPI dependency: any valid token (or none configured)."""
    found = authenticate(request)
    request.state.caller = found
    return found


def admin_caller(request: Request) -> Caller:
    """FastAPI dependency for admin routes: an admin token (403 for an API token)."""
    found = caller(request)
    if not found.admin:
        raise ApiProblem(403, "this route needs an admin token")
    return found
