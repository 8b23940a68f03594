#!/usr/bin/env python3
"""AIOpsLab bridge: drives the stock AIOpsLab Orchestrator for one problem and talks to its parent (the
task executor's worker) in JSON lines on stdio. See PROTOCOL.md beside this file for every message.

    aiopslab_bridge.py list
    aiopslab_bridge.py run --problem-id ID --max-steps N --results-dir DIR [--agent-name NAME]

Standard library only, apart from AIOpsLab itself (found on PYTHONPATH). Protocol lines go to the
original stdout only; everything AIOpsLab prints, and what its subprocesses (kubectl, helm) write to
file descriptor 1, goes to stderr (bridge_stdio.py, beside this file).
"""
import argparse
import asyncio
import atexit
import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

from bridge_stdio import Output, jsonable, start_quiet_thread, stdin_lines

EXIT_COMPLETED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 3
EXIT_HARD = 4  # second SIGTERM: gone at once, the fault possibly still injected
TASK_TYPES = ("mitigation", "analysis", "localization", "detection")
PROTOCOL_VERSION = 1


class BridgeCancelled(Exception):
    """Raised inside get_action (or init) to stop the run. An ordinary Exception on purpose: the
    orchestrator's own `except Exception` recovery must run, which CancelledError, KeyboardInterrupt
    and SystemExit would skip."""

    def __init__(self, reason):
        super().__init__(f"cancelled ({reason})")
        self.reason = reason


class ProtocolError(BridgeCancelled):
    """The parent broke the protocol: the run stops as for a cancel, and fails as protocol_error."""


def task_type_of(problem_id):
    return next((t for t in TASK_TYPES if t in problem_id), "unknown")


class Control:
    """What the parent and signals ask for, shared by the stdin thread, handlers and the run."""

    def __init__(self, out):
        self.out = out
        self.phase = "starting"
        self.cancel_reason = None  # "cancel" | "sigterm" | "stdin_closed" | "protocol_error"
        self.protocol_error = None
        self.sigterms = 0
        self._lock = threading.Lock()  # never taken in a signal handler (see on_sigterm)
        self._waiter = None  # (loop, future, step) while an action_request is open
        self._main = threading.main_thread().ident

    # -- the parent's lines (stdin thread) --
    def read_stdin(self):
        for raw in stdin_lines():
            try:
                msg = json.loads(raw)
                kind = msg["type"]
            except (ValueError, KeyError, TypeError):
                self.fail_protocol(f"not a JSON object with a type: {raw[:200]!r}")
                continue
            if kind == "cancel":
                self.cancel("cancel")
            elif kind == "reply":
                self.deliver(msg)
            else:
                self.fail_protocol(f"unknown message type {kind!r}")
        self.cancel("stdin_closed")

    def deliver(self, msg):
        content = msg.get("content")
        with self._lock:
            waiter = self._waiter
            valid = (waiter is not None and isinstance(content, str)
                     and msg.get("step", waiter[2]) == waiter[2])
            if valid:
                self._waiter = None
        if waiter is None:
            return self.fail_protocol("a reply came while no action_request was open")
        if not valid:  # the request stays open: the cancel below fails it
            return self.fail_protocol(f"reply for step {msg.get('step')!r} (open: step {waiter[2]}) "
                                      "must carry its content as a string")
        loop, fut, _ = waiter
        loop.call_soon_threadsafe(lambda: fut.done() or fut.set_result(content))

    def fail_protocol(self, message):
        if self.protocol_error is None:
            self.protocol_error = message
        self.cancel("protocol_error")

    def cancel(self, reason):
        with self._lock:
            if self.cancel_reason is None:
                self.cancel_reason = reason
            waiter = self._waiter
            self._waiter = None
        if waiter:
            loop, fut, _ = waiter
            loop.call_soon_threadsafe(lambda: fut.done() or fut.set_exception(self.exception()))
        # init_problem blocks the main thread for minutes: interrupt it (see on_interrupt).
        if self.phase == "setup":
            signal.pthread_kill(self._main, signal.SIGUSR1)

    def exception(self):
        if self.cancel_reason == "protocol_error":
            return ProtocolError("protocol_error")
        return BridgeCancelled(self.cancel_reason)

    # -- the agent side (main thread, in the loop) --
    def open_request(self, loop, step):
        fut = loop.create_future()
        with self._lock:
            if self.cancel_reason is None:
                self._waiter = (loop, fut, step)
                return fut
        raise self.exception()

    # -- signals (main thread) --
    def on_sigterm(self, signum, frame):
        self.sigterms += 1
        if self.sigterms > 1:
            self.out.try_send("final", status="failed", error={"code": "killed", "message": "second SIGTERM"},
                              fault_recovered=False, cluster_dirty=True)
            os._exit(EXIT_HARD)
        # From a thread: cancel takes the lock, which the interrupted main thread may hold.
        start_quiet_thread(self.cancel, "sigterm")

    def on_interrupt(self, signum, frame):
        # Only setup (before the fault is injected) is interrupted where it stands; injection,
        # a step, the evaluation and the recovery run to their end (a step is bounded by AIOpsLab's
        # 30 s shell timeout, and the next get_action raises).
        if self.phase == "setup" and self.cancel_reason:
            raise self.exception()


class ParentAgent:
    """The agent AIOpsLab sees: each get_action is one action_request to the parent."""

    def __init__(self, control, run):
        self.control, self.run = control, run
        self.steps = 0

    async def get_action(self, input):
        self.run.report_steps()
        self.steps += 1
        fut = self.control.open_request(asyncio.get_running_loop(), self.steps)
        self.control.out.send("action_request", step=self.steps, input=input)
        return await fut


class Run:
    """One episode: the stock Orchestrator, watched (never changed) through wrappers on the problem
    instance so that fault injection, evaluation, recovery and cleanup show as phases."""

    def __init__(self, args, control, out):
        self.args, self.control, self.out = args, control, out
        self.orch = None
        self.problem = None
        self.injected = False
        self.recovered = False
        self.results = None
        self.cleaned = False
        self.steps_reported = 0

    def phase(self, name, **fields):
        self.control.phase = name
        self.out.send("phase", phase=name, at=time.time(), **fields)

    def watch(self, prob):
        self.problem = prob

        def wrap(obj, name, before):
            original = getattr(obj, name)

            def wrapper(*a, **kw):
                before()
                value = original(*a, **kw)
                return value

            setattr(obj, name, wrapper)
            return original

        def on_inject():
            self.injected = True
            self.phase("fault_injection")

        orig_recover = getattr(prob, "recover_fault")

        def recover(*a, **kw):
            self.phase("recovery")
            value = orig_recover(*a, **kw)
            self.recovered = True
            return value

        prob.recover_fault = recover
        orig_eval = prob.eval

        def evaluate(*a, **kw):
            self.report_steps()
            self.phase("evaluation")
            self.results = orig_eval(*a, **kw)
            self.out.send("results", results=self.results)
            return self.results

        prob.eval = evaluate
        wrap(prob, "inject_fault", on_inject)
        app = getattr(prob, "app", None)
        if app is not None and hasattr(app, "cleanup"):
            orig_cleanup = app.cleanup

            def cleanup(*a, **kw):
                self.phase("cleanup")
                value = orig_cleanup(*a, **kw)
                self.cleaned = True
                return value

            app.cleanup = cleanup
        return prob

    def report_steps(self):
        """A step line for every reply whose observation is now in the session history."""
        history = getattr(getattr(self.orch, "session", None), "history", None) or []
        while len(history) >= 2 * (self.steps_reported + 1):
            i = 2 * self.steps_reported
            reply, observation = jsonable(history[i : i + 2])
            self.steps_reported += 1
            self.out.send("step", step=self.steps_reported, reply=reply.get("content"),
                          observation=observation.get("content"))

    async def main(self):
        a = self.args
        self.phase("import")
        try:
            from aiopslab.orchestrator import Orchestrator
        except BaseException as e:  # a broken install may raise anything at import
            return self.finish("failed", "import_error", describe(e))
        self.phase("setup", problem_id=a.problem_id)
        try:
            self.orch = Orchestrator(results_dir=Path(a.results_dir))
            probs = self.orch.probs
            get_instance = probs.get_problem_instance
            probs.get_problem_instance = lambda pid: self.watch(get_instance(pid))
            deployment = probs.get_problem_deployment(a.problem_id)
        except (BridgeCancelled, Exception) as e:
            return self.fail_setup(e, "unknown_problem" if isinstance(e, (KeyError, ValueError)) else "init_failed")
        agent = ParentAgent(self.control, self)
        try:
            # register_agent before init_problem: init reads the agent's name.
            self.orch.register_agent(agent, name=a.agent_name)
            task_description, instructions, apis = self.orch.init_problem(a.problem_id)
        except (BridgeCancelled, Exception) as e:
            return self.fail_setup(e, "init_failed")
        self.out.send("problem", problem_id=a.problem_id, task_type=task_type_of(a.problem_id),
                      deployment=deployment, task_description=task_description,
                      instructions=instructions, apis=apis,
                      session_id=str(getattr(self.orch.session, "session_id", "")))
        if self.control.cancel_reason:  # asked to stop during init, after the point of no interrupt
            return self.fail_setup(self.control.exception(), "init_failed")
        self.phase("running", max_steps=a.max_steps)
        try:
            outcome = await self.orch.start_problem(a.max_steps)
        except (BridgeCancelled, Exception) as e:
            return self.after_error(e)
        self.report_steps()
        self.send_session()
        final_state = jsonable(outcome.get("final_state"))
        self.out.send("outcome", final_state=final_state, results=outcome.get("results"),
                      framework_overhead=outcome.get("framework_overhead"),
                      end_reason="submitted" if final_state == "VALID_SUBMISSION" or final_state == 1
                      else "max_steps")
        return self.finish("completed")

    def fail_setup(self, e, code):
        if isinstance(e, BridgeCancelled):
            code = "protocol_error" if isinstance(e, ProtocolError) else "cancelled"
        self.recover_if_needed()
        return self.finish("failed", code, self.message_of(e), retryable=code == "init_failed")

    def after_error(self, e):
        """start_problem raised: from get_action (cancel), the environment, or after the evaluation."""
        self.report_steps()
        self.recover_if_needed()
        if self.results is not None:
            # The episode reached its evaluation: the score stands; the teardown failed after it.
            self.send_session()
            return self.finish("completed", teardown_error=self.message_of(e))
        code = "environment_error"
        if isinstance(e, BridgeCancelled):
            code = "protocol_error" if isinstance(e, ProtocolError) else "cancelled"
        return self.finish("failed", code, self.message_of(e))

    def message_of(self, e):
        if isinstance(e, ProtocolError):
            return self.control.protocol_error or str(e)
        if isinstance(e, BridgeCancelled):
            return str(e)
        return describe(e)

    def recover_if_needed(self):
        """Recover the fault when AIOpsLab did not (init interrupted, or a failure outside its try)."""
        if not self.injected or self.recovered or self.problem is None:
            return
        try:
            self.problem.recover_fault()
        except Exception as e:
            self.out.send("log", level="error", message=f"recover_fault failed: {describe(e)}")
        module = sys.modules.get(type(self.orch).__module__)
        hook = getattr(module, "exit_cleanup_fault", None)
        if hook is not None and self.recovered:
            atexit.unregister(hook)  # recovered already: not again at exit

    def send_session(self):
        """The session file AIOpsLab wrote to results_dir ({session_id}_{start_time}.json)."""
        session_id = str(getattr(getattr(self.orch, "session", None), "session_id", ""))
        files = sorted(Path(self.args.results_dir).glob(f"{session_id}_*.json")) if session_id else []
        if not files:
            return self.out.send("session", path=None, content=None)
        try:
            content = json.loads(files[-1].read_text())
        except (OSError, ValueError) as e:
            return self.out.send("session", path=str(files[-1]), content=None, error=describe(e))
        self.out.send("session", path=str(files[-1]), content=content)

    def finish(self, status, code=None, message=None, **extra):
        self.control.phase = "done"
        fields = {"status": status, "fault_injected": self.injected, "fault_recovered": self.recovered,
                  "cluster_dirty": (self.injected and not self.recovered) or (self.results is not None
                                                                              and not self.cleaned)}
        if code:
            fields["error"] = {"code": code, "message": message or code}
            if self.control.cancel_reason and code == "cancelled":
                fields["error"]["reason"] = self.control.cancel_reason
        self.out.send("final", **fields, **extra)
        if status == "completed":
            return EXIT_COMPLETED
        return EXIT_CANCELLED if code == "cancelled" else EXIT_FAILED


def describe(e):
    return "".join(traceback.format_exception_only(type(e), e)).strip()


def list_problems(out):
    try:
        from aiopslab.orchestrator.problems.registry import ProblemRegistry

        registry = ProblemRegistry()
        problems = [{"id": pid, "task_type": task_type_of(pid),
                     "deployment": registry.get_problem_deployment(pid)}
                    for pid in registry.get_problem_ids(task_type=None)]
    except BaseException as e:
        out.send("final", status="failed", error={"code": "import_error", "message": describe(e)})
        return EXIT_FAILED
    out.send("problems", problems=problems)
    out.send("final", status="completed")
    return EXIT_COMPLETED


def parse_args(argv):
    p = argparse.ArgumentParser(prog="aiopslab_bridge.py")
    sub = p.add_subparsers(dest="mode", required=True)
    sub.add_parser("list")
    run = sub.add_parser("run")
    run.add_argument("--problem-id", required=True)
    run.add_argument("--max-steps", type=int, required=True)
    run.add_argument("--results-dir", required=True)
    run.add_argument("--agent-name", default="task-executor")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)  # exits 2 on a usage error, before any protocol line
    out = Output()
    out.send("hello", protocol=PROTOCOL_VERSION, mode=args.mode, pid=os.getpid(),
             python=sys.version.split()[0])
    if args.mode == "list":
        return list_problems(out)
    control = Control(out)
    signal.signal(signal.SIGTERM, control.on_sigterm)
    signal.signal(signal.SIGUSR1, control.on_interrupt)
    start_quiet_thread(control.read_stdin, name="stdin")
    Path(args.results_dir).mkdir(parents=True, exist_ok=True)
    run = Run(args, control, out)
    try:
        # init_problem runs inside the loop, as in AIOpsLab's clients: it may create_task a workload.
        return asyncio.run(run.main())
    except BaseException as e:
        run.recover_if_needed()
        out.send("final", status="failed", error={"code": "crashed", "message": describe(e)},
                 fault_injected=run.injected, fault_recovered=run.recovered,
                 cluster_dirty=run.injected and not run.recovered)
        traceback.print_exc()
        return EXIT_FAILED


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stderr.flush()
    sys.exit(code)
