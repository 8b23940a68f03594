"""HTTP on the standard library: JSON requests, and the opening of an event stream or a download. Failures
become this package's exceptions here and nowhere else."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, Optional, Sequence, Tuple

from .errors import ApiError, ConnectionFailed, TaskExecutorError

Query = Sequence[Tuple[str, str]]

#: What a broken connection raises somewhere below urllib (refused, reset, cut mid-answer).
NETWORK_ERRORS = (OSError, http.client.HTTPException)


class Transport:
    def __init__(self, base_url: str, token: Optional[str], timeout: float, user_agent: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._headers: Dict[str, str] = {"user-agent": user_agent}
        if token:
            self._headers["authorization"] = f"Bearer {token}"
        self._opener = urllib.request.build_opener()

    def url(self, path: str, query: Optional[Query] = None) -> str:
        tail = f"?{urllib.parse.urlencode(list(query))}" if query else ""
        return f"{self.base_url}{path}{tail}"

    def request(self, method: str, path: str, body: Any = None, query: Optional[Query] = None) -> Any:
        """Sends JSON (when `body` is given) and returns the decoded JSON answer."""
        headers = {**self._headers, "accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["content-type"] = "application/json"
        url = self.url(path, query)
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        res = self._open(req, self.timeout)
        try:
            raw = res.read()
        except NETWORK_ERRORS as e:
            raise ConnectionFailed(f"{method} {url}: the answer was cut off ({e!r})") from e
        finally:
            res.close()
        return json.loads(raw) if raw else None

    def open_stream(
        self, path: str, query: Query, last_event_id: Optional[str], timeout: float
    ) -> http.client.HTTPResponse:
        """Opens a text/event-stream response; `timeout` bounds each read (keepalives reset it)."""
        headers = {**self._headers, "accept": "text/event-stream", "cache-control": "no-cache"}
        if last_event_id:
            headers["last-event-id"] = last_event_id
        req = urllib.request.Request(self.url(path, query), method="GET", headers=headers)
        res = self._open(req, timeout)
        kind = res.headers.get("content-type", "")
        if not kind.startswith("text/event-stream"):
            res.close()
            # Not an event stream at all (a proxy's page, a wrong base URL): retrying cannot help.
            raise TaskExecutorError(f"GET {path} answered {kind or 'no content type'}, not an event stream")
        return res

    def open_download(self, path: str, query: Query, timeout: float) -> http.client.HTTPResponse:
        """Opens a streamed download (an export); `timeout` bounds each read. The caller checks its type."""
        headers = {**self._headers, "accept": "application/x-ndjson, application/vnd.apache.parquet"}
        req = urllib.request.Request(self.url(path, query), method="GET", headers=headers)
        return self._open(req, timeout)

    def _open(self, req: urllib.request.Request, timeout: float) -> http.client.HTTPResponse:
        try:
            return self._opener.open(req, timeout=timeout)
        except urllib.error.HTTPError as e:
            try:
                raw = e.read()
            finally:
                e.close()
            raise ApiError.from_body(e.code, raw) from None
        except urllib.error.URLError as e:
            raise ConnectionFailed(f"{req.get_method()} {req.full_url}: {e.reason}") from e
        except NETWORK_ERRORS as e:
            raise ConnectionFailed(f"{req.get_method()} {req.full_url}: {e!r}") from e
