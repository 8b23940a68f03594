#!/usr/bin/env python3
"""Export finished task trajectories from a Task Executor server to a file.

    scripts/export_task_data.py http://localhost:8000 --output tmp/export.json

Runs from a checkout with the standard library only: the client package is found in
clients/python next to this script. The file is the server's GET /api/v1/export, byte for byte;
a dropped connection is resumed within the run (see clients/python/README.md, "Exports").
Exit 0 done, 1 on an error (the server's message is printed), 2 on bad arguments.
"""

import argparse
import json
import logging
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))

from task_executor_client import ApiError, Client, TaskExecutorError  # noqa: E402
from task_executor_client.query import EXPORT_FORMATS  # noqa: E402

#: Seconds between progress lines on stderr.
PROGRESS_EVERY = 2.0

FILTER_OPTIONS = (
    # (option, help); the keyword is the option's name with underscores.
    ("--experiment-id", "only this experiment's tasks"),
    ("--group-id", "only this GRPO group's tasks"),
    ("--problem-id", "only this problem"),
    ("--backend-type", "only this backend (sandbox, aiopslab, command, ...)"),
    ("--worker-id", "only tasks this worker ran"),
    ("--model", "only tasks whose agent_config model is this"),
    ("--status", "final statuses, comma list of completed, failed, timeout, cancelled"),
    ("--completed-after", "tasks finished after this ISO 8601 time"),
    ("--completed-before", "tasks finished at or before this ISO 8601 time"),
    ("--reward-name", "judge --min-reward/--max-reward by this named reward"),
    ("--after", "exclusive start cursor (the 'cursor' of the last task already exported)"),
    ("--until", "inclusive end cursor (x-export-until of an earlier export, to resume its snapshot)"),
)


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Export finished task trajectories (GET /api/v1/export) to a file.",
        epilog="Exit status: 0 done, 1 error (the server's message on stderr), 2 bad arguments.",
    )
    p.add_argument("base_url", help="the server, e.g. http://localhost:8000")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="the file to write; line formats are JSON Lines (one document per line) whatever the "
        "name, so an --output ending in .json still holds JSONL",
    )
    p.add_argument("--format", choices=EXPORT_FORMATS, default="trajectories", help="default: trajectories")
    p.add_argument("--token", help="API token when the server has API_TOKENS (default: $TASK_EXECUTOR_TOKEN)")
    for option, text in FILTER_OPTIONS:
        p.add_argument(option, help=text)
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", help="repeatable; every one must match")
    p.add_argument("--policy-version-min", type=int, metavar="N")
    p.add_argument("--policy-version-max", type=int, metavar="N")
    p.add_argument("--min-reward", type=float, metavar="R", help="records with at least this reward")
    p.add_argument("--max-reward", type=float, metavar="R", help="records with at most this reward")
    p.add_argument("--attempts", choices=("all", "final"), help="every attempt (default) or each task's last")
    p.add_argument("--max-retries", type=int, default=6, metavar="N", help="failed attempts in a row before giving up (6)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = p.parse_args(argv)
    for label in args.label:
        if "=" not in label:
            p.error(f"--label {label!r}: expected KEY=VALUE")
    if args.max_retries < 1:
        p.error("--max-retries must be at least 1")
    return args


def filters_of(args):
    names = [o[2:].replace("-", "_") for o, _ in FILTER_OPTIONS]
    names += ["label", "policy_version_min", "policy_version_max", "min_reward", "max_reward", "attempts"]
    values = {n: getattr(args, n) for n in names}
    values["label"] = values["label"] or None
    return {k: v for k, v in values.items() if v is not None}


class ProgressLine:
    """Tasks (or bytes) done against x-export-total, at most every PROGRESS_EVERY seconds."""

    def __init__(self, quiet):
        self.quiet = quiet
        self.last = None

    def __call__(self, state):
        now = time.monotonic()
        if self.quiet or (self.last is not None and now - self.last < PROGRESS_EVERY):
            return
        self.last = now
        print(f"export: {describe(state)}", file=sys.stderr, flush=True)


def describe(state):
    total = state["total"] if state["total"] is not None else "?"
    done = f"{state['tasks']}/{total} tasks" if state["tasks"] is not None else f"{total} tasks in range"
    lines = f", {state['lines']} lines" if state["lines"] is not None else ""
    return f"{done}{lines}, {state['bytes']} bytes"


def main(argv=None):
    args = parse_args(argv)
    # The client says on stderr when it lost the connection and where it resumes.
    logging.basicConfig(level=logging.ERROR if args.quiet else logging.WARNING, format="%(message)s")
    token = args.token or os.environ.get("TASK_EXECUTOR_TOKEN") or None
    client = Client(args.base_url, token=token, reconnect_delay=None, max_reconnect_attempts=args.max_retries)
    directory = os.path.dirname(os.path.abspath(args.output))
    try:
        os.makedirs(directory, exist_ok=True)
        result = client.export(args.output, format=args.format, progress=ProgressLine(args.quiet), **filters_of(args))
    except (TaskExecutorError, OSError) as e:
        print(f"export failed: {e}", file=sys.stderr)
        if isinstance(e, ApiError) and e.details:
            print(f"details: {json.dumps(e.details)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("export interrupted", file=sys.stderr)
        return 130
    print(f"export: done, {describe(result)} in {result['path']} (until {result['until']})", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
