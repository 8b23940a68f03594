"""An export written to a file, exactly the server's bytes.

Line formats are written as they arrive, and the file's size at the end of the last complete
task is kept: after a drop the file is cut back to it before the export continues, and on
giving up it is cut back too, so the file never holds part of a task. Parquet is one whole
document, so a drop restarts its download into `FILE.part`, renamed to FILE only when complete.
"""

from __future__ import annotations

import os
import time
from typing import Any, BinaryIO, Callable, Dict, Optional

from .errors import ConnectionFailed
from .export import Dropped, ExportSession, Line, Restart, TaskDone, body_chunks, line_pieces

Progress = Callable[[Dict[str, Any]], None]


def summary(session: ExportSession, path: str, lines: Optional[int], size: int) -> Dict[str, Any]:
    return {
        "path": path,
        "format": session.format,
        "tasks": session.tasks,
        "lines": lines,
        "bytes": size,
        "total": session.total,
        "until": session.until,
        "cursor": session.cursor,
        "reconnects": session.reconnects,
        "server_version": session.server_version,
    }


def write_lines(session: ExportSession, path: str, progress: Optional[Progress] = None) -> Dict[str, Any]:
    with open(path, "wb") as f:
        complete_at, lines, pending = 0, 0, 0
        try:
            for piece in line_pieces(session):
                if isinstance(piece, Line):
                    f.write(piece.raw)
                    pending += 1
                elif isinstance(piece, TaskDone):
                    complete_at, lines, pending = f.tell(), lines + pending, 0
                    if progress is not None:
                        progress(summary(session, path, lines, complete_at))
                else:
                    _cut(f, complete_at)
                    pending = 0
        except BaseException:
            _cut(f, complete_at)
            raise
    return summary(session, path, lines, complete_at)


def _cut(f: BinaryIO, size: int) -> None:
    f.seek(size)
    f.truncate()


def write_whole(session: ExportSession, path: str, progress: Optional[Progress] = None) -> Dict[str, Any]:
    partial = f"{path}.part"

    def report(size: int) -> None:
        if progress is not None:
            progress(summary(session, path, None, size))

    try:
        while True:
            res = session.open(session.after)
            try:
                size = _copy(res, partial, report)
            except Dropped as e:
                session.failed(ConnectionFailed(f"the export was cut off: {e}"), progressed=False)
                continue
            finally:
                res.close()
            os.replace(partial, path)
            return summary(session, path, None, size)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


#: Seconds between progress reports of a whole-file download.
PROGRESS_EVERY = 1.0


def _copy(res: Any, path: str, report: Callable[[int], None]) -> int:
    size, reported = 0, time.monotonic()
    with open(path, "wb") as f:
        for chunk in body_chunks(res):
            f.write(chunk)
            size += len(chunk)
            if time.monotonic() - reported >= PROGRESS_EVERY:
                reported = time.monotonic()
                report(size)
    return size
