"""GRPO groups from the event stream: trajectories are held by task id until their group is
complete, then handed over together, in repetition order.

A group is handed over when its `group.completed` has arrived *and* the trajectory of every
member it lists has. Both are needed: on PostgreSQL, when the members of a group finish in
concurrent transactions, the feed's cursor order (transaction id first) can put
`group.completed` before the trajectory of a member whose transaction committed earlier but
started later. Members the stream leaves out (a `status` filter) are not waited for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Collection, Dict, Iterable, Iterator, List, Optional


@dataclass
class Group:
    """A completed group: its trajectories (by repetition) and the `group.completed` data."""

    group_id: str
    trajectories: List[Dict[str, Any]]
    data: Dict[str, Any]
    cursor: Optional[str] = field(default=None)

    @property
    def tasks(self) -> List[Dict[str, Any]]:
        """Every member: task_id, repetition, status, reward, reward_reason, rewards, error_details."""
        return list(self.data.get("tasks") or [])

    @property
    def rewards(self) -> Dict[str, Optional[float]]:
        """task id → its default reward (None when it has none: failed, timed out, cancelled)."""
        return {t["task_id"]: t.get("reward") for t in self.tasks}


def _trajectory_task_id(data: Dict[str, Any]) -> Optional[str]:
    # A task deleted before its event was read arrives as {task_id, deleted: true}.
    return (data.get("task") or {}).get("id") or data.get("task_id")


class _Collector:
    def __init__(self, statuses: Optional[Collection[str]]) -> None:
        self._statuses = statuses
        self._arrived: Dict[str, Dict[str, Any]] = {}
        self._waiting: Dict[str, Any] = {}
        self._done: set = set()

    def add_trajectory(self, data: Dict[str, Any]) -> None:
        task_id = _trajectory_task_id(data)
        if task_id:
            self._arrived[task_id] = data

    def add_completed(self, event: Any) -> None:
        group_id = event.data["group_id"]
        if group_id not in self._done:
            self._waiting[group_id] = event

    def ready(self) -> List[Group]:
        """The waiting groups whose expected trajectories have all arrived, in completion order."""
        out = []
        for group_id, event in list(self._waiting.items()):
            members = self._expected(event.data)
            if any(m not in self._arrived for m in members):
                continue
            del self._waiting[group_id]
            self._done.add(group_id)
            found = [self._arrived.pop(m) for m in members]
            trajectories = [t for t in found if not t.get("deleted")]
            out.append(Group(group_id, trajectories, event.data, event.cursor))
        return out

    @property
    def handed_over(self) -> int:
        return len(self._done)

    def _expected(self, data: Dict[str, Any]) -> List[str]:
        members = sorted(data.get("tasks") or [], key=lambda t: t.get("repetition") or 0)
        return [
            t["task_id"] for t in members if self._statuses is None or t.get("status") in self._statuses
        ]


def collect_groups(
    events: Iterable[Any],
    expected: Optional[int] = None,
    statuses: Optional[Collection[str]] = None,
) -> Iterator[Group]:
    """Groups from `trajectory` and `group.completed` events; stops after `expected` groups.

    `statuses`: the statuses the stream sends trajectories for, when it filters them.
    """
    if expected is not None and expected <= 0:
        return
    collector = _Collector(statuses)
    for event in events:
        if event.name == "trajectory":
            collector.add_trajectory(event.data)
        elif event.name == "group.completed":
            collector.add_completed(event)
        else:
            continue
        for group in collector.ready():
            yield group
            if expected is not None and collector.handed_over >= expected:
                return
