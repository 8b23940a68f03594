"""Client.export_trajectories and Client.export over a local fake of GET /api/v1/export that cuts
connections where told: what comes out is the uninterrupted export, each resume asks for
after=<last complete task>&until=<the first answer's until>, and failures are bounded."""

import datetime
import json
import os
import tempfile
import unittest

from fake_export import UNTIL, FakeExport, line

from task_executor_client import ApiError, Client, ExportGaveUp, TaskExecutorError
from task_executor_client.query import export_query

# Task 1-2 has two attempts: its lines share the cursor and must be handed over together.
LINES = [line("1-1"), line("1-2", attempt=1), line("1-2", attempt=2), line("2-1"), line("2-5")]
FULL = b"".join(raw for _, raw in LINES)


def offset_in(lines, index, into=0):
    """The byte offset `into` bytes inside line `index`."""
    return sum(len(raw) for _, raw in lines[:index]) + into


class ExportCase(unittest.TestCase):
    lines = LINES

    def setUp(self):
        self.fake = FakeExport(self.lines)
        self.addCleanup(self.fake.close)
        self.client = Client(self.fake.url, reconnect_delay=0, max_reconnect_attempts=3)
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.path = os.path.join(self.dir.name, "out.jsonl")

    def resumed_from(self):
        """The `after` of every request after the first, and that each sent the first's until."""
        for request in self.fake.requests[1:]:
            self.assertEqual(request.get("until"), UNTIL)
        return [r.get("after") for r in self.fake.requests[1:]]

    def read(self):
        with open(self.path, "rb") as f:
            return f.read()


class Records(ExportCase):
    def test_a_drop_mid_task_resumes_after_the_last_complete_task_with_nothing_repeated(self):
        self.fake.plan = [("cut", offset_in(LINES, 2, 10))]
        records = self.client.export_trajectories(status=["completed"])
        got = list(records)
        self.assertEqual(got, [json.loads(raw) for _, raw in LINES])
        self.assertNotIn("until", self.fake.requests[0])
        self.assertEqual(self.fake.requests[0]["status"], "completed")
        self.assertEqual(self.resumed_from(), ["1-1"])
        self.assertEqual((records.until, records.tasks, records.reconnects), (UNTIL, 4, 1))
        self.assertEqual(records.cursor, "2-5")

    def test_a_drop_after_the_last_line_takes_the_last_task_again(self):
        # Every byte of the body arrived but its end did not: the last task is not known complete.
        self.fake.plan = [("cut", len(FULL))]
        self.assertEqual(len(list(self.client.export_trajectories())), len(LINES))
        self.assertEqual(self.resumed_from(), ["2-1"])

    def test_a_refusal_is_raised_at_once_and_never_retried(self):
        self.fake.plan = [("status", 422)]
        with self.assertRaises(ApiError) as caught:
            list(self.client.export_trajectories())
        self.assertEqual(caught.exception.status, 422)
        self.assertEqual(len(self.fake.requests), 1)

    def test_an_answer_that_is_not_an_export_is_not_retried(self):
        self.fake.plan = [("type", "text/html")]
        with self.assertRaises(TaskExecutorError) as caught:
            list(self.client.export_trajectories())
        self.assertIn("text/html", str(caught.exception))
        self.assertEqual(len(self.fake.requests), 1)


class File(ExportCase):
    def test_drops_and_errors_still_end_with_the_servers_bytes(self):
        # The first drop follows progress, so it starts the count of failures in a row over.
        self.fake.plan = [("cut", offset_in(LINES, 3, 5)), ("status", 503), ("cut", 3), None]
        seen = []
        result = self.client.export(self.path, progress=lambda s: seen.append(s["tasks"]))
        self.assertEqual(self.read(), FULL)
        self.assertEqual(self.resumed_from(), ["1-1", "1-1", "1-1"])
        self.assertEqual(
            {k: result[k] for k in ("tasks", "lines", "bytes", "until", "cursor", "reconnects", "total")},
            {"tasks": 4, "lines": 5, "bytes": len(FULL), "until": UNTIL, "cursor": "2-5", "reconnects": 3, "total": 4},
        )
        self.assertEqual(seen, [1, 2, 3, 4])

    def test_giving_up_leaves_only_complete_tasks_and_says_where_to_resume(self):
        self.fake.plan = [("cut", offset_in(LINES, 2, 4)), ("cut", 0), ("status", 502), ("cut", 0)]
        with self.assertRaises(ExportGaveUp) as caught:
            self.client.export(self.path)
        self.assertEqual((caught.exception.cursor, caught.exception.until), ("1-1", UNTIL))
        self.assertEqual(caught.exception.attempts, 3)
        self.assertIn("resume with after=1-1&until=9-9", str(caught.exception))
        self.assertEqual(self.read(), LINES[0][1])

    def test_filters_become_the_query(self):
        self.client.export(
            self.path,
            format="tokens",
            experiment_id="e",
            label={"run": "a", "team": "b"},
            min_reward=0.5,
            completed_after=datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
            attempts="final",
            after="1-1",
        )
        self.assertEqual(
            self.fake.requests[0],
            {
                "format": "tokens",
                "experiment_id": "e",
                "label": ["run=a", "team=b"],
                "completed_after": "2026-01-02T03:04:05+00:00",
                "min_reward": "0.5",
                "attempts": "final",
                "after": "1-1",
            },
        )
        self.assertEqual(self.read(), FULL[len(LINES[0][1]) :])


class Unnamed(ExportCase):
    """openai-chat lines name no task: a drop starts the same snapshot over."""

    lines = [(None, b'{"messages": [1]}\n'), (None, b'{"messages": [2]}\n'), (None, b'{"messages": [3]}\n')]

    def test_a_drop_starts_over_from_the_first_after(self):
        self.fake.plan = [("cut", 30)]
        result = self.client.export(self.path, format="openai-chat")
        self.assertEqual(self.read(), self.fake.full())
        self.assertEqual(self.resumed_from(), [None])
        self.assertEqual((result["tasks"], result["lines"]), (None, 3))


class Parquet(ExportCase):
    lines = [(None, b"PAR1" + bytes(range(256)) * 40 + b"PAR1")]

    def setUp(self):
        super().setUp()
        self.fake.content_type = "application/vnd.apache.parquet"
        self.path = os.path.join(self.dir.name, "out.parquet")

    def test_a_drop_restarts_the_download_and_only_a_whole_file_is_renamed_into_place(self):
        self.fake.plan = [("cut", 5000), ("short", 100)]
        result = self.client.export(self.path, format="parquet")
        self.assertEqual(self.read(), self.fake.full())
        self.assertEqual(os.listdir(self.dir.name), ["out.parquet"])
        self.assertEqual(self.resumed_from(), [None, None])
        self.assertEqual((result["bytes"], result["lines"], result["reconnects"]), (len(self.fake.full()), None, 2))

    def test_giving_up_leaves_no_file(self):
        self.fake.plan = [("cut", 10)] * 3
        with self.assertRaises(ExportGaveUp):
            self.client.export(self.path, format="parquet")
        self.assertEqual(os.listdir(self.dir.name), [])


class Query(unittest.TestCase):
    def test_a_misspelt_filter_or_format_fails_at_once(self):
        with self.assertRaises(TypeError):
            export_query("trajectories", {"experiment": "x"})
        with self.assertRaises(ValueError):
            export_query("csv", {})

    def test_statuses_join_and_labels_repeat(self):
        self.assertEqual(
            export_query("atif", {"status": ["completed", "failed"], "label": "run=a"}),
            [("format", "atif"), ("status", "completed,failed"), ("label", "run=a")],
        )


if __name__ == "__main__":
    unittest.main()
