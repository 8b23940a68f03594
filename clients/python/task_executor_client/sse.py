"""An incremental Server-Sent Events parser, as the WHATWG HTML standard specifies it
(section 9.2.6, "Interpreting an event stream").

Bytes go in as they arrive, in chunks of any size (a line ending, a UTF-8 sequence or a field
may be split across chunks); complete messages come out. What the spec asks, and why it
matters to a client that resumes by cursor:

- UTF-8, invalid sequences replaced, one leading byte order mark dropped;
- lines end at CRLF, LF or CR, including a CR at the end of one chunk and the LF at the start
  of the next (one line ending, not an empty line that would dispatch early);
- ``:`` starts a comment; ``field: value`` drops one space after the colon; a line without a
  colon is a field with an empty value; unknown fields are ignored;
- ``data`` lines are joined with LF; a message without data is not dispatched, but its ``id``
  still becomes the last event id (an id-only message moves the resume point);
- ``id`` persists to later messages that carry none; an id containing NUL is ignored;
- ``retry`` is taken only when it is all ASCII digits;
- a message cut off by the end of the stream (no blank line yet) is discarded.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Callable, List, Optional, Union

_LINE_END = re.compile(r"\r\n|\r|\n")
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class SseMessage:
    """One dispatched message: its type (``message`` by default), data and the last event id."""

    event: str
    data: str
    id: str


class SseParser:
    """Feed it the bytes of one connection; it returns the messages they complete."""

    def __init__(
        self,
        last_event_id: str = "",
        on_comment: Optional[Callable[[str], None]] = None,
    ) -> None:
        # utf-8-sig drops one byte order mark at the very start, and only there.
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        self._on_comment = on_comment
        self._partial: List[str] = []
        self._skip_lf = False
        self._data: List[str] = []
        self._event = ""
        self._id = last_event_id
        #: The id the stream would resume from: updated at each dispatch, id-only ones included.
        self.last_event_id = last_event_id
        #: The reconnection time in milliseconds the server asked for, if it did.
        self.retry: Optional[int] = None

    def feed(self, chunk: Union[bytes, str]) -> List[SseMessage]:
        text = self._decoder.decode(chunk) if isinstance(chunk, bytes) else chunk
        out: List[SseMessage] = []
        for line in self._split(text):
            self._process(line, out)
        return out

    def _split(self, text: str) -> List[str]:
        """Complete lines of `text`, joined to what earlier chunks left unfinished."""
        if not text:
            return []
        if self._skip_lf and text[0] == "\n":
            text = text[1:]
        # A CR that ends this chunk ended a line; an LF opening the next chunk belongs to it.
        self._skip_lf = text.endswith("\r")
        lines: List[str] = []
        start = 0
        for m in _LINE_END.finditer(text):
            self._partial.append(text[start : m.start()])
            lines.append("".join(self._partial))
            self._partial = []
            start = m.end()
        if start < len(text):
            self._partial.append(text[start:])
        return lines

    def _process(self, line: str, out: List[SseMessage]) -> None:
        if line == "":
            self._dispatch(out)
            return
        if line[0] == ":":
            if self._on_comment is not None:
                self._on_comment(line[1:].lstrip(" "))
            return
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            if "\0" not in value:
                self._id = value
        elif field == "retry":
            if _DIGITS.fullmatch(value):
                self.retry = int(value)

    def _dispatch(self, out: List[SseMessage]) -> None:
        self.last_event_id = self._id
        if not self._data:
            self._event = ""
            return
        out.append(SseMessage(self._event or "message", "\n".join(self._data), self._id))
        self._data = []
        self._event = ""
