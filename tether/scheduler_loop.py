"""The local stack's stand-in for EventBridge Scheduler: a thread that, every few seconds, finds
the ticks of every schedule-triggered workflow that fell due since its last look and hands each
to the same dispatcher the `schedule_dispatcher` Lambda calls. Never used in AWS.

Time comes from an injected clock, so tests move it instead of waiting; `run_due()` is one look.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.domain.workflows import schedule

log = logging.getLogger("tether.local")

# Like the deployed schedules' maximum event age: ticks missed by longer (the machine slept) are
# dropped, not run in a burst.
MAX_LATENESS = timedelta(hours=1)


@dataclass(frozen=True)
class ScheduledWorkflow:
    """A schedule-triggered workflow as the loop sees it."""

    project_id: str
    workflow_id: str
    cron: str
    timezone: str


Dispatch = Callable[[str, str, datetime], object]


class SchedulerLoop:
    """Dispatches each due tick once, in time order per workflow."""

    def __init__(
        self,
        workflows: Callable[[], Iterable[ScheduledWorkflow]],
        dispatch: Dispatch,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        interval_seconds: float = 5.0,
    ) -> None:
        self._workflows = workflows
        self._dispatch = dispatch
        self._clock = clock
        self._interval = interval_seconds
        self._last = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_due(self) -> list[tuple[str, str, str]]:
        """Dispatch every tick in (last look, now]; return `(projectId, workflowId, tick)` for each."""
        now = self._clock()
        since = max(self._last, now - MAX_LATENESS)
        dispatched: list[tuple[str, str, str]] = []
        for workflow in self._workflows():
            try:
                ticks = schedule.ticks_between(workflow.cron, workflow.timezone, since, now)
            except schedule.ScheduleError:
                continue
            for tick in ticks:
                try:
                    self._dispatch(workflow.project_id, workflow.workflow_id, tick)
                except Exception:  # one failing tick must not stop the loop
                    log.exception("schedule tick %s of %s not dispatched", tick, workflow.workflow_id)
                    continue
                dispatched.append((workflow.project_id, workflow.workflow_id, schedule.tick_id(tick)))
        self._last = now
        return dispatched

    def start(self) -> None:
        """Look every `interval_seconds` on a daemon thread until `stop()`."""
        self._thread = threading.Thread(target=self._run, name="tether-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (it finishes the look it is in)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.run_due()
            except Exception:  # the loop outlives a failed look (say, a storage hiccup)
                log.exception("scheduler look failed")


def stored_schedules() -> list[ScheduledWorkflow]:
    """Every schedule-triggered workflow of every project in the local stack's table."""
    from chalicelib.wiring import get_services

    services = get_services()
    found: list[ScheduledWorkflow] = []
    for project in services.projects.list_projects():
        for workflow in services.workflows.list_workflows(project.id):
            trigger = workflow.trigger
            if trigger.get("type") == "schedule":
                found.append(ScheduledWorkflow(project.id, workflow.id, str(trigger["cron"]), str(trigger["timezone"])))
    return found


def dispatch_stored(project_id: str, workflow_id: str, tick: datetime) -> object:
    """The dispatcher with the local stack's services."""
    from chalicelib.services.schedules import dispatch_tick
    from chalicelib.wiring import get_services

    return dispatch_tick(get_services().run_ports, project_id, workflow_id, tick)
