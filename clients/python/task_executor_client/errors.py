"""What the client raises. Every error the server answers carries `{error, code, details}`;
`ApiError` keeps all three, so a caller can branch on `code` rather than parse messages."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional


class TaskExecutorError(Exception):
    """Base class of everything this client raises."""


class ApiError(TaskExecutorError):
    """The server answered with an HTTP error status."""

    def __init__(
        self,
        status: int,
        message: str,
        code: Optional[str] = None,
        details: Optional[Dict[str, Any]] = None,
        body: Any = None,
    ) -> None:
        self.status = status
        self.message = message
        self.code = code
        self.details = details or {}
        self.body = body
        label = f"{status} {code}" if code else str(status)
        super().__init__(f"HTTP {label}: {message}")

    @property
    def retryable(self) -> bool:
        """True for answers a later attempt may not get: overload, restarts, database outages."""
        return self.status in (408, 425, 429) or self.status >= 500

    @classmethod
    def from_body(cls, status: int, raw: bytes) -> "ApiError":
        text = raw.decode("utf-8", errors="replace")
        try:
            body = json.loads(text)
        except ValueError:
            return cls(status, text.strip()[:500] or "(no body)", body=text)
        if not isinstance(body, dict):
            return cls(status, text[:500], body=body)
        message = body.get("error") or body.get("message") or text[:500]
        details = body.get("details") if isinstance(body.get("details"), dict) else None
        return cls(status, str(message), body.get("code"), details, body)


class ConnectionFailed(TaskExecutorError, ConnectionError):
    """The server could not be reached, or the connection broke before an answer."""


class StreamGaveUp(ConnectionFailed):
    """An event stream failed to reconnect `attempts` times in a row and stopped trying.

    `cursor` is the last event it delivered: pass it as `after=` to carry on later.
    """

    def __init__(self, attempts: int, cursor: Optional[str], last_error: BaseException) -> None:
        self.attempts = attempts
        self.cursor = cursor
        self.last_error = last_error
        resume = f" (resume with after={cursor})" if cursor else ""
        super().__init__(
            f"gave up after {attempts} failed connection attempts in a row{resume}: {last_error}"
        )


class ExportGaveUp(ConnectionFailed):
    """An export failed `attempts` times in a row and stopped trying.

    Every task up to `cursor` was delivered (written, for a file) whole: ask again with
    `after=cursor, until=until` for the rest of the same snapshot.
    """

    def __init__(
        self, attempts: int, cursor: Optional[str], until: Optional[str], last_error: BaseException
    ) -> None:
        self.attempts = attempts
        self.cursor = cursor
        self.until = until
        self.last_error = last_error
        resume = f" (resume with after={cursor or '0'}&until={until})" if until else ""
        super().__init__(f"export gave up after {attempts} failed attempts in a row{resume}: {last_error}")
