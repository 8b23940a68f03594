"""The bridge's stdio plumbing (aiopslab_bridge.py): protocol lines out, the parent's lines in,
and the threads that must leave SIGTERM and SIGUSR1 to the main thread."""
import enum
import json
import math
import os
import signal
import sys
import threading


def jsonable(value):
    """Plain JSON of what AIOpsLab returns: pydantic models, enums, paths, non-finite floats."""
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if hasattr(value, "model_dump"):
        return jsonable(value.model_dump())
    return str(value)


SIGNALS = {signal.SIGTERM, signal.SIGUSR1}


def start_quiet_thread(target, *args, name=None):
    """A daemon thread that never receives SIGTERM or SIGUSR1: it inherits them blocked.

    Why: Output.send blocks them in the main thread while it writes, and a process-directed
    signal that arrives then goes to any thread that does not block it. Taken by another thread,
    the handler is still run by the main thread, but only once it wakes: one asleep in the event
    loop (an open action_request) would never see the SIGTERM. Blocked everywhere else, the
    signal waits until the main thread unblocks it and is delivered there."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        threading.Thread(target=target, args=args, name=name, daemon=True).start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def stdin_lines():
    """Lines of fd 0 of any length. os.read, not sys.stdin: a daemon thread blocked inside the
    buffered reader aborts the interpreter at exit (it cannot take the reader's lock)."""
    pending = b""
    while True:
        chunk = os.read(0, 1 << 20)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from lines
    if pending.strip():
        yield pending


class Output:
    """Protocol lines on the real stdout. File descriptor 1 is pointed at stderr, so that nothing
    else (print, a subprocess inheriting fd 1) can interleave with a protocol line."""

    def __init__(self):
        self._fd = os.dup(1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        self._lock = threading.Lock()

    def send(self, type_, **fields):
        data = (json.dumps({"type": type_, **jsonable(fields)}, ensure_ascii=False) + "\n").encode()
        # A handler that raises (on_interrupt) must not cut a line in half: hold signals meanwhile.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        try:
            with self._lock:
                self._write(data)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def try_send(self, type_, **fields):
        """From a signal handler: never wait for (or cut into) a line the main thread is writing."""
        if self._lock.acquire(blocking=False):
            try:
                self._write((json.dumps({"type": type_, **jsonable(fields)}) + "\n").encode())
            finally:
                self._lock.release()

    def _write(self, data):
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
