"""Groups from events, and the stream's query string."""

import unittest

from task_executor_client.groups import collect_groups
from task_executor_client.query import stream_query
from task_executor_client.stream import Event


def trajectory(group, repetition, task_id, status="completed"):
    task = {"id": task_id, "group_id": group, "repetition": repetition, "status": status}
    return Event("trajectory", f"1-{task_id}", {"task": task})


def completed(group, *members):
    """members: (task_id, repetition, status)."""
    tasks = [{"task_id": t, "repetition": r, "status": s, "reward": 1.0 if s == "completed" else None}
             for t, r, s in members]
    return Event("group.completed", f"2-{group}", {"group_id": group, "tasks": tasks})


G1 = [("c", 0, "completed"), ("a", 1, "failed")]
G2 = [("b", 0, "completed"), ("d", 1, "completed")]


class Groups(unittest.TestCase):
    EVENTS = [
        trajectory("g1", 1, "a", "failed"),
        trajectory("g2", 0, "b"),
        trajectory("g1", 0, "c"),
        completed("g1", *G1),
        Event("reward.updated", "3-1", {"task_id": "a"}),
        trajectory("g2", 1, "d"),
        completed("g2", *G2),
        completed("g2", *G2),
    ]

    def test_each_group_comes_once_with_its_trajectories_by_repetition(self):
        groups = list(collect_groups(self.EVENTS))
        self.assertEqual([g.group_id for g in groups], ["g1", "g2"])
        self.assertEqual([t["task"]["id"] for t in groups[0].trajectories], ["c", "a"])
        self.assertEqual([t["task"]["id"] for t in groups[1].trajectories], ["b", "d"])
        self.assertEqual(groups[0].cursor, "2-g1")
        self.assertEqual(groups[0].rewards, {"c": 1.0, "a": None})

    def test_a_group_completed_before_a_members_trajectory_waits_for_it(self):
        # On PostgreSQL the cursor order can put group.completed before a member's trajectory.
        events = [trajectory("g2", 0, "b"), completed("g2", *G2), trajectory("g2", 1, "d")]
        groups = list(collect_groups(events))
        self.assertEqual([t["task"]["id"] for t in groups[0].trajectories], ["b", "d"])
        self.assertEqual(groups[0].cursor, "2-g2")

    def test_members_left_out_by_a_status_filter_are_not_waited_for(self):
        events = [trajectory("g1", 0, "c"), completed("g1", *G1)]
        groups = list(collect_groups(events, statuses=["completed"]))
        self.assertEqual([t["task"]["id"] for t in groups[0].trajectories], ["c"])
        self.assertEqual(list(collect_groups(events)), [])

    def test_a_deleted_member_is_not_waited_for_forever(self):
        events = [trajectory("g2", 0, "b"), Event("trajectory", "1-d", {"task_id": "d", "deleted": True}),
                  completed("g2", *G2)]
        groups = list(collect_groups(events))
        self.assertEqual([t["task"]["id"] for t in groups[0].trajectories], ["b"])

    def test_it_stops_after_the_expected_number_of_groups(self):
        consumed = []

        def events():
            for e in self.EVENTS:
                consumed.append(e)
                yield e

        groups = list(collect_groups(events(), expected=1))
        self.assertEqual([g.group_id for g in groups], ["g1"])
        self.assertEqual(len(consumed), 4)


class Query(unittest.TestCase):
    def test_filters_become_the_servers_query(self):
        q = stream_query(
            "e1",
            "5-6",
            "compact",
            ["trajectory", "reward.updated"],
            {"label": {"run": "a", "team": "b"}, "status": ["completed", "failed"], "policy_version_min": 3},
        )
        self.assertEqual(
            q,
            [
                ("experiment_id", "e1"),
                ("after", "5-6"),
                ("conversation", "compact"),
                ("types", "trajectory,reward.updated"),
                ("label", "run=a"),
                ("label", "team=b"),
                ("status", "completed,failed"),
                ("policy_version_min", "3"),
            ],
        )

    def test_a_misspelt_filter_fails_in_python(self):
        with self.assertRaises(TypeError):
            stream_query(None, None, "messages", None, {"experiment": "x"})
        with self.assertRaises(ValueError):
            stream_query(None, None, "everything", None, {})


if __name__ == "__main__":
    unittest.main()
