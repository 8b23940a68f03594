"""A resumable event stream: iterate it and it reconnects by itself.

Every event's SSE id is a database cursor, so reconnecting with `Last-Event-ID: <the last id
delivered>` continues exactly after it, with nothing lost or repeated, whether the connection
dropped, the server said `disconnect` (shutdown, slow consumer, error) or it restarted.

Reconnects wait the server's `retry` time (or `reconnect_delay`) after a stream that was
working; attempts that fail (refused, a 5xx or 503, no answer) back off exponentially with
jitter up to `max_reconnect_delay`, and after `max_reconnect_attempts` failures in a row the
iterator raises `StreamGaveUp` with the cursor to resume from. Answers no retry can change
(401, 403, 404, 422: a bad token, cursor or filter) raise `ApiError` at once.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Generator, Iterator, Optional, Tuple

from .errors import ApiError, ConnectionFailed, StreamGaveUp
from .sse import SseParser
from .transport import NETWORK_ERRORS, Query, Transport

_CHUNK = 65536


@dataclass(frozen=True)
class Event:
    """One feed event: `name` (trajectory, group.completed, reward.updated), its cursor and JSON data."""

    name: str
    cursor: Optional[str]
    data: Any


@dataclass
class ReconnectPolicy:
    #: Seconds before reconnecting after a working stream ended; None: the server's `retry`.
    reconnect_delay: Optional[float] = None
    #: The longest wait between failed attempts, in seconds.
    max_reconnect_delay: float = 30.0
    #: Failed connection attempts in a row before giving up; None: never give up.
    max_reconnect_attempts: Optional[int] = 10
    #: Seconds without a byte (keepalives included) before a connection is taken for dead.
    read_timeout: float = 60.0

    def delay(self, failures: int, server_retry_ms: Optional[int]) -> float:
        if self.reconnect_delay is not None:
            base = self.reconnect_delay
        else:
            base = server_retry_ms / 1000 if server_retry_ms is not None else 2.0
        if failures == 0:
            return min(base, self.max_reconnect_delay)
        # Exponential with jitter, so a fleet of trainers does not return to a restarted server at once.
        ceiling = min(self.max_reconnect_delay, base * 2 ** min(failures, 30))
        return random.uniform(ceiling / 2, ceiling)


class EventStream:
    """An iterator of `Event`. `cursor` is the last event delivered: persist it to resume later."""

    def __init__(
        self,
        transport: Transport,
        path: str,
        query: Query,
        policy: ReconnectPolicy,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._transport = transport
        self._path = path
        self._query = query
        self._policy = policy
        self._sleep = sleep
        self._server_retry_ms: Optional[int] = None
        self.cursor: Optional[str] = None
        #: How many times it connected again after the first connection.
        self.reconnects = 0
        #: The data of the last `disconnect` event the server sent, if any.
        self.last_disconnect: Optional[Dict[str, Any]] = None
        self._events = self._run()

    def __iter__(self) -> "EventStream":
        return self

    def __next__(self) -> Event:
        return next(self._events)

    def close(self) -> None:
        """Ends the stream and its connection (also done when the iterator is garbage collected)."""
        self._events.close()

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> Iterator[Event]:
        failures = 0
        error: Optional[BaseException] = None
        while True:
            try:
                # The cursor wins over ?after= on the server, so the first query serves every connection.
                res = self._transport.open_stream(
                    self._path, self._query, self.cursor, self._policy.read_timeout
                )
            except ApiError as e:
                if not e.retryable:
                    raise
                failures, error = failures + 1, e
            except ConnectionFailed as e:
                failures, error = failures + 1, e
            else:
                try:
                    delivered, disconnect = yield from self._read(res)
                finally:
                    res.close()
                if delivered == 0 and disconnect is not None and disconnect.get("reason") == "error":
                    # Answered, then failed at once (its database is down): a failed attempt, not progress.
                    error = ConnectionFailed(f"the server ended the stream: {disconnect}")
                    failures += 1
                else:
                    failures = 0
            limit = self._policy.max_reconnect_attempts
            if failures and limit is not None and failures >= limit:
                raise StreamGaveUp(failures, self.cursor, error or ConnectionFailed("unknown"))
            self._sleep(self._policy.delay(failures, self._server_retry_ms))
            self.reconnects += 1

    def _read(self, res: Any) -> Generator[Event, None, Tuple[int, Optional[Dict[str, Any]]]]:
        """Delivers one connection's events; returns how many, and the server's `disconnect` data."""
        parser = SseParser(last_event_id=self.cursor or "")
        delivered = 0
        disconnect: Optional[Dict[str, Any]] = None
        try:
            while True:
                chunk = res.read1(_CHUNK)
                if not chunk:
                    break
                for message in parser.feed(chunk):
                    if message.event == "disconnect":
                        # The server closes right after; the cursor we hold is where to resume.
                        disconnect = self.last_disconnect = _as_dict(_decode(message.data))
                        continue
                    self.cursor = message.id or None
                    delivered += 1
                    yield Event(message.event, self.cursor, _decode(message.data))
                # Every message of the chunk is delivered: an id-only message moves the cursor too.
                self.cursor = parser.last_event_id or None
                if parser.retry is not None:
                    self._server_retry_ms = parser.retry
        except NETWORK_ERRORS:
            pass  # dropped mid-stream (reset, cut off, silent too long): resume like any other end
        return delivered, disconnect


def _as_dict(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {"reason": str(value)}


def _decode(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data
