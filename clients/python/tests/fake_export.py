"""A local HTTP server that answers GET /api/v1/export the way the real one does: a range
(after, until] of tasks whose lines name their cursor, chunked, with the export's headers, and
that breaks the connections it is told to (cut the body after N bytes, or answer an error)."""

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NDJSON = "application/x-ndjson"
UNTIL = "9-9"


def cursor_key(cursor):
    return tuple(int(x) for x in cursor.split("-"))


def line(cursor, attempt=1, **extra):
    doc = {"cursor": cursor, "task_id": f"task-{cursor}", "attempt": attempt, **extra}
    return cursor, (json.dumps(doc) + "\n").encode()


class FakeExport:
    """`lines`: (cursor or None, bytes) in export order. `plan`: one action per request:
    None (answer in full), ("cut", n) (close after n body bytes, chunked), ("short", n) (close
    after n bytes of a Content-Length body), ("status", code) or ("type", content_type)."""

    def __init__(self, lines, content_type=NDJSON):
        self.lines = lines
        self.content_type = content_type
        self.plan = []
        self.requests = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self):
        self._server.shutdown()
        self._server.server_close()

    def full(self):
        return b"".join(raw for _, raw in self.lines)

    def body(self, after):
        """The lines after `after`; lines without a cursor (a whole file, openai-chat) always."""
        if after in (None, "0"):
            return self.full()
        return b"".join(raw for c, raw in self.lines if c is None or cursor_key(c) > cursor_key(after))


def _handler(fake):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args):
            pass

        def do_GET(self):
            query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            fake.requests.append({k: v if k == "label" else v[0] for k, v in query.items()})
            action = fake.plan.pop(0) if fake.plan else None
            if action and action[0] == "status":
                return self._error(action[1])
            body = fake.body(query.get("after", [None])[0])
            kind = action[1] if action and action[0] == "type" else fake.content_type
            self.send_response(200)
            self.send_header("content-type", kind)
            self.send_header("x-export-until", query.get("until", [UNTIL])[0])
            self.send_header("x-export-total", str(len({c for c, _ in fake.lines})))
            if action and action[0] == "short":
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: action[1]])
                self.close_connection = True
                return
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            cut = action[1] if action and action[0] == "cut" else None
            self._chunked(body if cut is None else body[:cut], ended=cut is None)

        def _chunked(self, body, ended):
            # Small chunks, so a line often spans several of them, as on a real network.
            for start in range(0, len(body), 37):
                piece = body[start : start + 37]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            if ended:
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.close_connection = True  # no last chunk: the client sees the body cut off
            self.wfile.flush()

        def _error(self, status):
            data = json.dumps({"error": f"status {status}", "code": "FAKE", "details": {}}).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
