"""EventStream's reconnect rules over a scripted transport (no network, no real sleeping)."""

import http.client
import unittest

from task_executor_client.errors import ApiError, ConnectionFailed, StreamGaveUp
from task_executor_client.stream import EventStream, ReconnectPolicy


def frame(cursor, name="trajectory", data="{}"):
    return f"id: {cursor}\nevent: {name}\ndata: {data}\n\n".encode()


class Response:
    def __init__(self, *chunks, then=None):
        self.chunks = list(chunks)
        self.then = then
        self.closed = False

    def read1(self, _n):
        if self.chunks:
            return self.chunks.pop(0)
        if self.then is not None:
            raise self.then
        return b""

    def close(self):
        self.closed = True


class Transport:
    """Answers each open_stream with the next scripted response or exception."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.sent_ids = []

    def open_stream(self, _path, _query, last_event_id, _timeout):
        self.sent_ids.append(last_event_id)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def stream(transport, **policy):
    sleeps = []
    s = EventStream(transport, "/s", [], ReconnectPolicy(**policy), sleep=sleeps.append)
    return s, sleeps


def take(s, n):
    return [next(s) for _ in range(n)]


class Resuming(unittest.TestCase):
    def test_each_reconnect_sends_the_last_delivered_cursor(self):
        t = Transport(
            Response(b"retry: 2000\n\n", frame("1-1"), frame("1-2"), then=ConnectionResetError()),
            Response(b'event: disconnect\ndata: {"reason":"shutdown","cursor":"1-2"}\n\n'),
            Response(frame("1-3")),
        )
        s, sleeps = stream(t)
        events = take(s, 3)
        self.assertEqual([e.cursor for e in events], ["1-1", "1-2", "1-3"])
        self.assertEqual(t.sent_ids, [None, "1-2", "1-2"])
        self.assertEqual(s.last_disconnect, {"reason": "shutdown", "cursor": "1-2"})
        self.assertEqual(s.reconnects, 2)
        # A working stream that ended waits the server's retry time, no more.
        self.assertEqual(sleeps, [2.0, 2.0])

    def test_a_message_cut_off_mid_frame_is_dropped_and_asked_for_again(self):
        half = frame("1-2", data='{"big": "payload"}')[:20]
        t = Transport(
            Response(frame("1-1") + half, then=http.client.IncompleteRead(b"")),
            Response(frame("1-2", data='{"big": "payload"}')),
        )
        s, _ = stream(t)
        events = take(s, 2)
        self.assertEqual([e.cursor for e in events], ["1-1", "1-2"])
        self.assertEqual(events[1].data, {"big": "payload"})
        self.assertEqual(t.sent_ids, [None, "1-1"])

    def test_an_id_only_message_moves_the_resume_point(self):
        t = Transport(Response(frame("1-1"), b"id: 1-5\n\n"), Response(frame("1-6")))
        s, _ = stream(t)
        take(s, 2)
        self.assertEqual(t.sent_ids, [None, "1-5"])

    def test_closing_the_stream_closes_its_connection(self):
        res = Response(frame("1-1"), frame("1-2"))
        s, _ = stream(Transport(res))
        take(s, 1)
        s.close()
        self.assertTrue(res.closed)
        with self.assertRaises(StopIteration):
            next(s)


class GivingUp(unittest.TestCase):
    def test_it_gives_up_after_the_configured_failures_in_a_row_with_the_cursor(self):
        refused = ConnectionFailed("refused")
        t = Transport(Response(frame("1-1")), refused, ApiError(503, "down", "DATABASE_UNAVAILABLE"), refused)
        s, sleeps = stream(t, reconnect_delay=1.0, max_reconnect_delay=3.0, max_reconnect_attempts=3)
        take(s, 1)
        with self.assertRaises(StreamGaveUp) as caught:
            next(s)
        self.assertEqual(caught.exception.attempts, 3)
        self.assertEqual(caught.exception.cursor, "1-1")
        self.assertIs(caught.exception.last_error, refused)
        # One wait after the working stream, then growing waits capped at the maximum.
        self.assertEqual(sleeps[0], 1.0)
        self.assertTrue(1.0 <= sleeps[1] <= 2.0, sleeps)
        self.assertTrue(1.5 <= sleeps[2] <= 3.0, sleeps)

    def test_a_working_connection_resets_the_failure_count(self):
        refused = ConnectionFailed("refused")
        t = Transport(refused, Response(frame("1-1")), refused, Response(frame("1-2")))
        s, _ = stream(t, max_reconnect_attempts=2)
        self.assertEqual([e.cursor for e in take(s, 2)], ["1-1", "1-2"])

    def test_an_error_disconnect_before_any_event_counts_as_a_failure(self):
        failing = b'event: disconnect\ndata: {"reason":"error","cursor":null}\n\n'
        t = Transport(Response(failing), Response(failing))
        s, _ = stream(t, max_reconnect_attempts=2)
        with self.assertRaises(StreamGaveUp):
            next(s)

    def test_answers_no_retry_can_change_are_raised_at_once(self):
        t = Transport(ApiError(422, "Invalid after", "VALIDATION_ERROR", {"location": "query"}))
        s, sleeps = stream(t)
        with self.assertRaises(ApiError) as caught:
            next(s)
        self.assertEqual(caught.exception.code, "VALIDATION_ERROR")
        self.assertEqual(sleeps, [])


class Errors(unittest.TestCase):
    def test_an_error_body_keeps_message_code_and_details(self):
        body = b'{"error":"Task not found","code":"TASK_NOT_FOUND","details":{"id":"x"}}'
        e = ApiError.from_body(404, body)
        self.assertEqual((e.status, e.code, e.message), (404, "TASK_NOT_FOUND", "Task not found"))
        self.assertEqual(e.details, {"id": "x"})
        self.assertEqual(str(e), "HTTP 404 TASK_NOT_FOUND: Task not found")
        self.assertFalse(e.retryable)

    def test_a_body_that_is_not_json_is_kept_as_text(self):
        e = ApiError.from_body(502, b"<html>bad gateway</html>")
        self.assertEqual((e.code, e.message), (None, "<html>bad gateway</html>"))
        self.assertTrue(e.retryable)


if __name__ == "__main__":
    unittest.main()
