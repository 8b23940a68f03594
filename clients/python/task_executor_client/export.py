"""GET /api/v1/export as a download that survives dropped connections.

The server fixes the snapshot when the first request arrives and says so in `x-export-until`;
every later request of the same export sends that `until` back. A task's lines come together
and name its cursor (trajectories and tokens at the top, atif in `extra`), so a task is known
complete when the cursor changes or the body ends cleanly. After a drop the lines of the task
in progress are taken back (`Restart`) and the export continues with `after=<cursor of the last
complete task>`: what the caller keeps is then byte for byte one uninterrupted export.

openai-chat lines name no task, so for it nothing is complete before the end, and a drop
starts the same snapshot over from the beginning (as Parquet does, see export_file.py).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Generator, Iterator, List, Optional, Union

from .errors import ApiError, ConnectionFailed, ExportGaveUp, TaskExecutorError
from .stream import ReconnectPolicy
from .transport import NETWORK_ERRORS, Query, Transport

EXPORT_PATH = "/api/v1/export"
CONTENT_TYPES = {"parquet": "application/vnd.apache.parquet"}
NDJSON = "application/x-ndjson"
#: Line formats whose every line names its task's cursor.
NAMED_TASK_FORMATS = ("trajectories", "tokens", "atif")
CHUNK = 65536
#: The first wait after a connection that made progress, unless the client sets reconnect_delay.
BASE_RETRY_MS = 500

log = logging.getLogger("task_executor_client.export")


class Dropped(Exception):
    """The body ended before its end: a reset, a cut-off chunk, a short body or half a line."""


def line_cursor(format: str, doc: Any) -> Optional[str]:
    """The cursor of the task a line belongs to; None for formats whose lines do not say."""
    if not isinstance(doc, dict):
        return None
    if format in ("trajectories", "tokens"):  # keep in step with NAMED_TASK_FORMATS
        return doc.get("cursor")
    if format == "atif":
        return (doc.get("extra") or {}).get("cursor")
    return None


class ExportSession:
    """The requests of one export: the snapshot's `until`, the retries, what has been seen."""

    def __init__(
        self,
        transport: Transport,
        format: str,
        query: Query,
        policy: ReconnectPolicy,
        after: Optional[str] = None,
        until: Optional[str] = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.format = format
        self.after = after
        self.until = until
        #: Tasks in range per the first answer's x-export-total (before reward bounds).
        self.total: Optional[int] = None
        self.server_version: Optional[str] = None
        self.schema_version: Optional[str] = None
        #: The cursor of the last task delivered whole (`after` until one is).
        self.cursor = after
        #: Tasks delivered whole; None for a format whose lines name no task.
        self.tasks: Optional[int] = 0 if format in NAMED_TASK_FORMATS else None
        self.reconnects = 0
        self._transport = transport
        self._query = list(query)
        self._policy = policy
        self._sleep = sleep
        self._failures = 0
        self._answered = False

    def open(self, after: Optional[str]) -> Any:
        """A response for (after, until], retrying failed attempts; refusals raise at once."""
        while True:
            try:
                res = self._transport.open_download(EXPORT_PATH, self._request(after), self._policy.read_timeout)
            except ApiError as e:
                if not e.retryable:
                    raise
                self.failed(e, progressed=False)
            except ConnectionFailed as e:
                self.failed(e, progressed=False)
            else:
                self._take_headers(res)
                return res

    def failed(self, error: BaseException, progressed: bool) -> None:
        """Counts a failure (a drop after progress starts the count over), then waits or gives up."""
        self._failures = 0 if progressed else self._failures + 1
        limit = self._policy.max_reconnect_attempts
        if self._failures and limit is not None and self._failures >= limit:
            raise ExportGaveUp(self._failures, self.cursor, self.until, error)
        wait = self._policy.delay(self._failures, BASE_RETRY_MS)
        log.warning("export: %s; retrying after %s in %.1f s", error, self.cursor or "the start", wait)
        self._sleep(wait)
        self.reconnects += 1

    def _request(self, after: Optional[str]) -> Query:
        query = list(self._query)
        if after is not None:
            query.append(("after", after))
        if self.until is not None:
            query.append(("until", self.until))
        return query

    def _take_headers(self, res: Any) -> None:
        kind = (res.headers.get("content-type") or "").split(";")[0].strip()
        expected = CONTENT_TYPES.get(self.format, NDJSON)
        if kind != expected:
            res.close()
            # A proxy's page or a wrong base URL: retrying cannot help.
            raise TaskExecutorError(f"GET {EXPORT_PATH} answered {kind or 'no content type'}, not {expected}")
        until = res.headers.get("x-export-until")
        if self.until is not None and until is not None and until != self.until:
            res.close()
            raise TaskExecutorError(f"the server answered until={until} for an export of until={self.until}")
        if self.until is None:
            self.until = until
        if not self._answered:
            # The first answer describes the whole export; later ones count only what is left.
            self._answered = True
            self.server_version = res.headers.get("x-export-server-version")
            self.schema_version = res.headers.get("x-export-schema-version")
            total = res.headers.get("x-export-total")
            self.total = int(total) if total is not None and total.isdigit() else None


def body_chunks(res: Any) -> Iterator[bytes]:
    """The response's bytes as they arrive; raises `Dropped` unless the body ends as announced."""
    try:
        while True:
            chunk = res.read1(CHUNK)
            if not chunk:
                break
            yield chunk
    except NETWORK_ERRORS as e:
        raise Dropped(repr(e)) from e
    # Without chunked encoding a short body ends quietly; http.client leaves what was missing in `length`.
    if getattr(res, "length", None):
        raise Dropped(f"the body ended {res.length} bytes short")


def body_lines(res: Any) -> Iterator[bytes]:
    """Whole lines (each with its newline); raises `Dropped` when the body ends mid-line."""
    parts: List[bytes] = []
    for chunk in body_chunks(res):
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                break
            parts.append(chunk[start : end + 1])
            yield b"".join(parts)
            parts = []
            start = end + 1
        if start < len(chunk):
            parts.append(chunk[start:])
    if parts:
        raise Dropped("the body ended in the middle of a line")


@dataclass(frozen=True)
class Line:
    """One line as the server sent it, its JSON, and its task's cursor (None when unnamed)."""

    raw: bytes
    doc: Any
    cursor: Optional[str]


@dataclass(frozen=True)
class TaskDone:
    """Every line given so far belongs to complete tasks; `cursor` is the last one's."""

    cursor: Optional[str]


class Restart:
    """The connection dropped: forget the lines since the last `TaskDone`, they come again."""


Piece = Union[Line, TaskDone, Restart]


def line_pieces(session: ExportSession) -> Generator[Piece, None, None]:
    """The lines of a line-format export, task boundaries and restarts, across reconnects."""
    while True:
        res = session.open(session.cursor)
        progressed = False
        try:
            current: Optional[str] = None
            pending = False
            for raw in body_lines(res):
                doc = _decode(raw)
                cursor = line_cursor(session.format, doc)
                if pending and cursor != current:
                    yield _task_done(session, current)
                    progressed = True
                current, pending = cursor, True
                yield Line(raw, doc, cursor)
            if pending:
                yield _task_done(session, current)
            return
        except Dropped as e:
            yield Restart()
            session.failed(ConnectionFailed(f"the export was cut off: {e}"), progressed)
        finally:
            res.close()


def _task_done(session: ExportSession, cursor: Optional[str]) -> TaskDone:
    if cursor is not None:
        session.cursor = cursor
        session.tasks = (session.tasks or 0) + 1
    return TaskDone(cursor)


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as e:
        # A whole line that is not JSON is no drop: the server (or something before it) is wrong.
        raise TaskExecutorError(f"the export sent a line that is not JSON: {raw[:200]!r}") from e


class TrajectoryRecords:
    """An iterator of trajectory records (dicts), each task's handed over once it is complete.

    `until`, `total`, `cursor` (the last task handed over whole), `tasks` and `reconnects` can be
    read while iterating; `cursor` and `until` resume the same snapshot later.
    """

    def __init__(self, session: ExportSession) -> None:
        self.session = session
        self._records = self._run()

    def __iter__(self) -> "TrajectoryRecords":
        return self

    def __next__(self) -> Any:
        return next(self._records)

    def close(self) -> None:
        self._records.close()

    @property
    def until(self) -> Optional[str]:
        return self.session.until

    @property
    def total(self) -> Optional[int]:
        return self.session.total

    @property
    def cursor(self) -> Optional[str]:
        return self.session.cursor

    @property
    def tasks(self) -> Optional[int]:
        return self.session.tasks

    @property
    def reconnects(self) -> int:
        return self.session.reconnects

    def _run(self) -> Iterator[Any]:
        held: List[Any] = []
        for piece in line_pieces(self.session):
            if isinstance(piece, Line):
                held.append(piece.doc)
            elif isinstance(piece, TaskDone):
                yield from held
                held = []
            else:
                held = []
