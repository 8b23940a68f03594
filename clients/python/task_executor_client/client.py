"""The client a trainer holds: experiments, rewards, the live trajectory feed and exports."""

from __future__ import annotations

import urllib.parse
from typing import Any, Dict, Iterable, Iterator, Optional, Union

from . import __version__
from .export import ExportSession, TrajectoryRecords
from .export_file import Progress, write_lines, write_whole
from .groups import Group, collect_groups
from .query import comma_list, export_query, stream_query
from .stream import EventStream, ReconnectPolicy
from .transport import Transport

STREAM_PATH = "/api/v1/trajectories/stream"


def _id(value: str) -> str:
    return urllib.parse.quote(str(value), safe="")


class Client:
    """`Client("http://127.0.0.1:8000", token=...)`; every call raises `ApiError` on an HTTP error.

    The reconnect settings apply to every stream it opens (see `ReconnectPolicy`).
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        token: Optional[str] = None,
        timeout: float = 30.0,
        *,
        reconnect_delay: Optional[float] = None,
        max_reconnect_delay: float = 30.0,
        max_reconnect_attempts: Optional[int] = 10,
        read_timeout: float = 60.0,
    ) -> None:
        self._http = Transport(base_url, token, timeout, f"task-executor-python/{__version__}")
        self.reconnect_policy = ReconnectPolicy(
            reconnect_delay, max_reconnect_delay, max_reconnect_attempts, read_timeout
        )

    # --- experiments and rewards --------------------------------------------------------------

    def create_experiment(self, **spec: Any) -> Dict[str, Any]:
        """name, problems, agent_configs, repetitions (K), policy_version, labels, backend_type, …"""
        return self._http.request("POST", "/api/v1/experiments", spec)

    def experiment(self, experiment_id: str) -> Dict[str, Any]:
        return self._http.request("GET", f"/api/v1/experiments/{_id(experiment_id)}")

    def cancel_experiment(self, experiment_id: str) -> Dict[str, Any]:
        return self._http.request("POST", f"/api/v1/experiments/{_id(experiment_id)}/cancel")

    def post_reward(
        self, task_id: str, name: str, value: float, details: Optional[Dict[str, Any]] = None
    ) -> Dict[str, Any]:
        """Appends a named reward to the task's history (earlier entries are never changed)."""
        body: Dict[str, Any] = {"name": name, "value": value}
        if details is not None:
            body["details"] = details
        return self._http.request("POST", f"/api/v1/tasks/{_id(task_id)}/rewards", body)

    def rewards(self, task_id: str, name: Optional[str] = None) -> Dict[str, Any]:
        query = [("name", name)] if name is not None else None
        return self._http.request("GET", f"/api/v1/tasks/{_id(task_id)}/rewards", query=query)

    # --- the live feed ------------------------------------------------------------------------

    def stream(
        self,
        experiment_id: Optional[str] = None,
        after: Optional[str] = None,
        conversation: str = "messages",
        types: Union[None, str, Iterable[str]] = None,
        **filters: Any,
    ) -> EventStream:
        """Events of the trajectory feed, resumed automatically after any disconnect.

        `after`: a cursor (`event.cursor`), `"0"` for the start or `"now"`; by default a stream
        scoped to an experiment, group or task starts at its beginning, any other at now.
        Filters: group_id, task_id, problem_id, backend_type, worker_id, model, label (dict or
        `"k=v"` strings), status (list), policy_version_min, policy_version_max.
        """
        query = stream_query(experiment_id, after, conversation, types, filters)
        return EventStream(self._http, STREAM_PATH, query, self.reconnect_policy)

    def trajectories(self, experiment_id: Optional[str] = None, **kwargs: Any) -> EventStream:
        """Only `trajectory` events (the server leaves the others out)."""
        return self.stream(experiment_id, types="trajectory", **kwargs)

    def groups(
        self,
        experiment_id: str,
        until_complete: bool = False,
        conversation: str = "messages",
        status: Union[None, str, Iterable[str]] = None,
    ) -> Iterator[Group]:
        """Each completed group of the experiment with its trajectories, from the experiment's start.

        `until_complete=True` stops once every group of the experiment (its `group_count`) has
        been handed over; a cancelled experiment's groups complete too. It always starts at the
        beginning so every group is whole; skip the groups you have already trained on by id.
        `status` (e.g. `["completed"]`) leaves the other members' trajectories out.
        """
        expected = self.experiment(experiment_id)["group_count"] if until_complete else None
        statuses = None if status is None else comma_list(status).split(",")
        events = self.stream(
            experiment_id,
            after="0",
            conversation=conversation,
            types="trajectory,group.completed",
            status=statuses,
        )
        return _closing(collect_groups(events, expected, statuses), events)

    # --- exports ------------------------------------------------------------------------------

    def export_trajectories(
        self, after: Optional[str] = None, until: Optional[str] = None, **filters: Any
    ) -> TrajectoryRecords:
        """Every finished attempt the filters select, as trajectory records, in finish order.

        A snapshot: the first answer fixes `until` (the feed head then, unless given). A dropped
        connection is resumed after the last complete task, with the client's reconnect
        settings; a task's attempts are handed over only once all of them have arrived.
        Filters: those of `stream()` plus completed_after, completed_before (ISO text or
        datetime), min_reward, max_reward, reward_name, attempts ("all" or "final").
        """
        return TrajectoryRecords(self._export_session("trajectories", after, until, filters))

    def export(
        self,
        path: str,
        format: str = "trajectories",
        after: Optional[str] = None,
        until: Optional[str] = None,
        progress: Optional[Progress] = None,
        **filters: Any,
    ) -> Dict[str, Any]:
        """Writes the export's bytes to `path` in any format; filters as `export_trajectories`.

        Returns {path, format, tasks, lines, bytes, total, until, cursor, reconnects,
        server_version}; `progress`, if given, is called with the same dict as it goes.
        """
        session = self._export_session(format, after, until, filters)
        if format == "parquet":
            return write_whole(session, path, progress)
        return write_lines(session, path, progress)

    def _export_session(
        self, format: str, after: Optional[str], until: Optional[str], filters: Dict[str, Any]
    ) -> ExportSession:
        query = export_query(format, filters)
        return ExportSession(self._http, format, query, self.reconnect_policy, after, until)


def _closing(groups: Iterator[Group], events: EventStream) -> Iterator[Group]:
    """The groups, closing the stream (and its connection) when they end or the caller stops."""
    try:
        yield from groups
    finally:
        events.close()
