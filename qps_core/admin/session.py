"""Admin sessions: an admin token exchanged for a signed, HttpOnly, SameSite=Strict cookie.

The cookie holds no secret: the first 16 hex digits of the admin token's hash (so removing the
token from `admin_tokens` ends its sessions), an expiry, the session's CSRF token and its id,
signed with HMAC-SHA256. A session is valid only while its record (keyed by the SHA-256 of the id)
is in the settings store: logging out deletes it, so a copied cookie stops working at once in
every process sharing the store (`Admin.session_active`). The key is `QPS_SESSION_SECRET` when
set, else a random key kept in the settings store (created on first use: every process sharing
the store, e.g. the API's Lambda instances, accepts the same cookies), else random per process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

COOKIE = "qps_admin"
SESSION_SECONDS = 8 * 3600
LOGIN_CODE_SECONDS = 600
_PROCESS_KEY = secrets.token_bytes(32)
_shared: dict[str, Any] = {}


def use_shared_key(provider: Callable[[], bytes]) -> None:
    """Where the shared session key comes from (the settings store), read on first use."""
    _shared.clear()
    _shared["provider"] = provider


def _key() -> bytes:
    secret = os.environ.get("QPS_SESSION_SECRET")
    if secret:
        return hashlib.sha256(secret.encode()).digest()
    if "key" not in _shared and "provider" in _shared:
        try:
            _shared["key"] = _shared["provider"]()
        except Exception as exc:  # sessions still work, on this process only
            logging.getLogger("qps.admin").warning("admin sessions use a per-process key: %s", exc)
            _shared["key"] = _PROCESS_KEY
    return bytes(_shared.get("key", _PROCESS_KEY))


@dataclass(frozen=True)
class Session:
    who: str  # "token:<16 hex>" or "local" (no tokens configured)
    csrf: str
    expires: int
    sid: str = ""  # the session's id (its record in the settings store is keyed by `record_id`)

    @property
    def record_id(self) -> str:
        return hashlib.sha256(self.sid.encode()).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode("ascii") + b"=" * (-len(text) % 4))


def issue(who: str, now: float | None = None) -> tuple[Session, str]:
    expires = int((time.time() if now is None else now) + SESSION_SECONDS)
    session = Session(who, secrets.token_urlsafe(24), expires, secrets.token_urlsafe(24))
    fields = [session.who, session.csrf, session.expires, session.sid]
    payload = _b64(json.dumps(fields, separators=(",", ":")).encode())
    signature = _b64(hmac.new(_key(), payload.encode(), hashlib.sha256).digest())
    return session, f"{payload}.{signature}"


def read(cookie: str | None, now: float | None = None) -> Session | None:
    """The session a cookie holds, or None when it is absent, forged or expired."""
    if not cookie or "." not in cookie:
        return None
    payload, _, signature = cookie.partition(".")
    expected = _b64(hmac.new(_key(), payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(signature, expected):
        return None
    try:
        who, csrf, expires, sid = json.loads(_unb64(payload))
    except (ValueError, TypeError):
        return None
    if not isinstance(expires, int) or expires < (time.time() if now is None else now) or not sid:
        return None
    return Session(str(who), str(csrf), expires, str(sid))


def token_who(token_hash: str) -> str:
    return "token:" + token_hash.removeprefix("sha256:")[:16]


def still_valid(session: Session, settings: Any) -> bool:
    """A session lasts only while its admin token is configured (or, for `local`, while none is)."""
    if not settings.admin_tokens:
        return session.who == "local" and not settings.api_tokens
    return any(session.who == token_who(h) for h in settings.admin_tokens)


def csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf, str(sent))


class LoginCodes:
    """One-time login codes (what `qps serve` prints as a login URL): each works once, for 10 minutes."""

    def __init__(self) -> None:
        self._codes: dict[str, tuple[str, float]] = {}

    def mint(self, who: str) -> str:
        code = secrets.token_urlsafe(24)
        self._codes[hashlib.sha256(code.encode()).hexdigest()] = (who, time.time() + LOGIN_CODE_SECONDS)
        return code

    def redeem(self, code: str) -> str | None:
        entry = self._codes.pop(hashlib.sha256(code.encode()).hexdigest(), None)
        if entry is None or entry[1] < time.time():
            return None
        return entry[0]
