"""Typed errors. Every message is one user-readable sentence; none is ever shown as a traceback."""

from __future__ import annotations


def one_line(value: object) -> str:
    """Any text (an exception message, a response) collapsed to one line."""
    return " ".join(str(value).split())


def shown(value: object, limit: int = 80) -> str:
    """`repr(value)`, shortened: user input echoed in an error never floods a log line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}…{text[-3:]}"


def clip(text: object, limit: int = 300) -> str:
    """Text that may hold input (an exception message, a list of errors), on one line and bounded."""
    line = one_line(text)
    return line if len(line) <= limit else f"{line[: limit - 4]} …"


def describe_exception(exc: BaseException) -> str:
    """`Type: message` on one line (just the message for QPS's own errors)."""
    if isinstance(exc, QPSError):
        return str(exc)
    text = one_line(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class QPSError(Exception):
    """Base class for every error QPS reports to a user."""

    permanent = True

    def __str__(self) -> str:
        return one_line(self.args[0]) if self.args else self.__class__.__name__


class InvalidInput(QPSError, ValueError):
    """Input that can never succeed as given: malformed JSON, an invalid request, a bad URI."""


class RejectedEvent(InvalidInput):
    """An adapter claims an event but cannot turn it into a valid request."""


class IgnoredEvent(QPSError):
    """An adapter recognises an event as its own kind but deliberately does nothing with it."""


class ConfigError(QPSError):
    """Settings, rules files or plugins that cannot be loaded."""


class PackagingError(QPSError):
    """The packager could not build or push a package."""


class PermanentError(PackagingError):
    """A failure that a retry cannot fix (empty folder, no such bucket, access denied...)."""


class TransientError(PackagingError):
    """A failure worth retrying later (throttling, 5xx, timeouts, connection errors)."""

    permanent = False


class NotReadyError(TransientError):
    """The source folder is still being written (an object is younger than the quiet period)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
