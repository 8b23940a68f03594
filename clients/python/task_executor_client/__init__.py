"""A Python client for the Task Executor's experiments, rewards, live trajectory feed and exports.

Standard library only. See clients/python/README.md.
"""

__version__ = "0.1.0"

from .client import Client  # noqa: E402
from .errors import (  # noqa: E402
    ApiError,
    ConnectionFailed,
    ExportGaveUp,
    StreamGaveUp,
    TaskExecutorError,
)
from .export import TrajectoryRecords  # noqa: E402
from .groups import Group  # noqa: E402
from .sse import SseMessage, SseParser  # noqa: E402
from .stream import Event, EventStream, ReconnectPolicy  # noqa: E402

__all__ = [
    "ApiError",
    "Client",
    "ConnectionFailed",
    "Event",
    "EventStream",
    "ExportGaveUp",
    "Group",
    "ReconnectPolicy",
    "SseMessage",
    "SseParser",
    "StreamGaveUp",
    "TaskExecutorError",
    "TrajectoryRecords",
]
