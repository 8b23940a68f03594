"""The query strings of /api/v1/trajectories/stream and /api/v1/export from Python values. Names
are checked here so a typo fails at once, in Python, rather than as a 422 (or, worse, an ignored
filter)."""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

FILTERS = (
    "group_id",
    "task_id",
    "problem_id",
    "backend_type",
    "worker_id",
    "model",
    "label",
    "status",
    "policy_version_min",
    "policy_version_max",
)
CONVERSATION_FORMS = ("compact", "messages", "full")
EVENT_TYPES = ("trajectory", "group.completed", "reward.updated")

Labels = Union[Mapping[str, str], Iterable[str], str]


def comma_list(value: Union[str, Iterable[str]]) -> str:
    return value if isinstance(value, str) else ",".join(value)


def label_values(labels: Labels) -> List[str]:
    """`{"run": "a"}`, `["run=a"]` or `"run=a"` → `["run=a"]` (each sent as its own `label=`)."""
    if isinstance(labels, str):
        return [labels]
    if isinstance(labels, Mapping):
        return [f"{k}={v}" for k, v in labels.items()]
    return list(labels)


def _text(value: Any) -> str:
    # A datetime for completed_after/before: the server takes ISO 8601.
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def filter_pairs(names: Iterable[str], filters: Dict[str, Any]) -> List[Tuple[str, str]]:
    """The query pairs of the named filters that are set: labels repeated, statuses as a comma list."""
    pairs: List[Tuple[str, str]] = []
    for name in names:
        value = filters.get(name)
        if value is None:
            continue
        if name == "label":
            pairs.extend(("label", v) for v in label_values(value))
        elif name == "status":
            pairs.append(("status", comma_list(value)))
        else:
            pairs.append((name, _text(value)))
    return pairs


def stream_query(
    experiment_id: Optional[str],
    after: Optional[str],
    conversation: str,
    types: Union[None, str, Iterable[str]],
    filters: Dict[str, Any],
) -> List[Tuple[str, str]]:
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise TypeError(f"unknown stream filter(s) {unknown}; known: {', '.join(FILTERS)}")
    if conversation not in CONVERSATION_FORMS:
        raise ValueError(f"conversation must be one of {CONVERSATION_FORMS}, not {conversation!r}")
    pairs: List[Tuple[str, str]] = []
    if experiment_id:
        pairs.append(("experiment_id", experiment_id))
    if after is not None:
        pairs.append(("after", str(after)))
    pairs.append(("conversation", conversation))
    if types is not None:
        pairs.append(("types", comma_list(types)))
    return pairs + filter_pairs(FILTERS, filters)


EXPORT_FORMATS = ("trajectories", "openai-chat", "tokens", "atif", "parquet")
# In the order of the endpoint's schema (src/api/schemas/export.ts); it has no task_id.
EXPORT_FILTERS = (
    "experiment_id",
    "group_id",
    "problem_id",
    "backend_type",
    "worker_id",
    "model",
    "status",
    "label",
    "policy_version_min",
    "policy_version_max",
    "completed_after",
    "completed_before",
    "min_reward",
    "max_reward",
    "reward_name",
    "attempts",
)




def export_query(format: str, filters: Dict[str, Any]) -> List[Tuple[str, str]]:
    """`format` and the filters of GET /api/v1/export; `after`/`until` are added per request."""
    unknown = sorted(set(filters) - set(EXPORT_FILTERS))
    if unknown:
        raise TypeError(f"unknown export filter(s) {unknown}; known: {', '.join(EXPORT_FILTERS)}")
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {EXPORT_FORMATS}, not {format!r}")
    pairs: List[Tuple[str, str]] = [("format", format)]
    return pairs + filter_pairs(EXPORT_FILTERS, filters)
