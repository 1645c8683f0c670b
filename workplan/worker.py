"""The task worker that outlives its faults, and the housekeeping it runs on a schedule.

django-tasks-db's `db_worker` stops at the first database error it does not expect: when
PostgreSQL restarts, the worker exits and nothing is delivered until someone starts it
again. `ResilientWorker` runs the same loop (the same queries, claims and task runs, from
django-tasks-db's `Worker`), but a database error ends only the current round: the worker
closes its connections, waits (exponential backoff with jitter, capped at
WORKER_MAX_BACKOFF_SECONDS) and goes on where it was once the database answers again.

Between rounds it runs the housekeeping jobs that are due (`Housekeeping`):

- every WORKER_SWEEP_SECONDS, `webhook_sweep` (deliveries whose try's lease ran out, or
  due with no task: a worker killed mid-try) and `fail_abandoned_tasks`;
- every WORKER_HOUSEKEEPING_SECONDS, `purge_idempotency_keys` and django-tasks-db's
  `prune_db_task_results` (finished results older than WORKER_TASK_RESULTS_DAYS).

`manage.py run_worker` starts it (`make run`, `make worker`, the compose `worker`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import close_old_connections, connections
from django.db.utils import Error as DatabaseError
from django.db.utils import OperationalError
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

logger = logging.getLogger("workplan.worker")


# -- housekeeping -------------------------------------------------------------------------------


@dataclass
class Job:
    """A housekeeping job: `run()` every `every` seconds; returns what it did, for the log."""

    name: str
    every: float
    run: Callable[[], str]
    next_due: float = 0.0  # on the worker's monotonic clock; 0: at the first round


@dataclass
class Housekeeping:
    """Runs each job when it is due. A job hit by a database error stays due: it runs again
    at the next round, after the worker's backoff. Any other error is logged and the job
    waits for its next turn."""

    jobs: list[Job]
    clock: Callable[[], float] = time.monotonic
    log: list[tuple[str, str]] = field(default_factory=list)  # (job, result), the last 100

    def run_due(self) -> list[str]:
        """Run every job that is due; return their names."""
        ran = []
        for job in self.jobs:
            if self.clock() < job.next_due:
                continue
            try:
                result = job.run()
            except DatabaseError:
                raise  # the worker backs off; the job stays due
            except Exception:
                # Any other failure is a bug in the job: log it, try again at its next turn,
                # and never let it stop the deliveries.
                logger.exception("housekeeping: %s failed", job.name)
                result = "failed"
            job.next_due = self.clock() + job.every
            ran.append(job.name)
            self.log = [*self.log[-99:], (job.name, result)]
            logger.info("housekeeping: %s: %s", job.name, result)
        return ran


def fail_abandoned_tasks() -> str:
    """Mark as failed the webhook tasks left running by a worker that died (killed, or cut
    from the database mid-task). A webhook try is bounded by its lease, so one running
    for twice as long is nobody's; its delivery has been queued again by the sweep. Without
    this they would stay `RUNNING` for ever, and `prune_db_task_results` would never
    remove them."""
    from django_tasks_db.compat import TaskResultStatus

    from workplan.tasks import deliver_webhook

    cutoff = timezone.now() - 2 * timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    count = DBTaskResult.objects.filter(
        status=TaskResultStatus.RUNNING,
        task_path=deliver_webhook.module_path,
        started_at__lt=cutoff,
    ).update(
        status=TaskResultStatus.FAILED,
        finished_at=timezone.now(),
        exception_class_path="workplan.worker.WorkerLost",
        traceback="The worker running this task stopped before recording its result.",
    )
    return f"{count} abandoned task(s) marked failed"


def _sweep() -> str:
    from workplan.webhooks import webhook_sweep

    return f"{webhook_sweep()} delivery(ies) queued again; {fail_abandoned_tasks()}"


def _command(name: str, *args: Any, **options: Any) -> Callable[[], str]:
    def run() -> str:
        out = io.StringIO()
        call_command(name, *args, stdout=out, stderr=out, **options)
        return out.getvalue().strip() or "done"

    return run


def default_jobs() -> list[Job]:
    """The stack's housekeeping, on the intervals the settings give."""
    sweep = float(settings.WORKER_SWEEP_SECONDS)
    hourly = float(settings.WORKER_HOUSEKEEPING_SECONDS)
    return [
        Job("sweep webhook deliveries", sweep, _sweep),
        Job("purge idempotency keys", hourly, _command("purge_idempotency_keys")),
        Job(
            "prune task results",
            hourly,
            _command(
                "prune_db_task_results",
                queue_name="*",
                min_age_days=settings.WORKER_TASK_RESULTS_DAYS,
                verbosity=0,
            ),
        ),
    ]


# -- the worker ------------------------------------------------------------------------------


def backoff(failures: int, cap: float, base: float = 0.5) -> float:
    """Seconds to wait after `failures` failures in a row: doubling from `base`, capped,
    with up to 25% jitter so workers do not all knock at once."""
    delay = min(cap, base * 2 ** max(failures - 1, 0))
    return delay * random.uniform(0.75, 1.0)  # noqa: S311 (not a secret)


class ResilientWorker(Worker):
    """django-tasks-db's worker, kept running through database outages, with housekeeping."""

    def __init__(
        self,
        *,
        housekeeping: Housekeeping | None = None,
        max_backoff: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.housekeeping = housekeeping
        self.max_backoff = (
            float(settings.WORKER_MAX_BACKOFF_SECONDS) if max_backoff is None else max_backoff
        )
        self.sleep = sleep
        self.failures = 0
        self.down_since: float | None = None

    def run(self) -> None:
        logger.info(
            "Starting worker worker_id=%s queues=%s", self.worker_id, ",".join(self.queue_names)
        )
        if self.startup_delay and self.interval:
            self.sleep(random.random())  # noqa: S311 (a thundering herd, not a secret)
        while self.running:
            try:
                self._housekeeping()
                found = self.run_once()
            except DatabaseError as exc:
                self._database_failed(exc)
                continue
            self._database_answered()
            if found is False and self.batch:
                logger.info("No more tasks to run for worker_id=%s.", self.worker_id)
                return
            if self.max_tasks is not None and self._run_tasks >= self.max_tasks:
                logger.info("Ran the maximum of %d task(s); stopping.", self._run_tasks)
                return
            if self.running and not found:
                self.sleep(self.interval)

    def _housekeeping(self) -> None:
        if self.housekeeping is None:
            return
        close_old_connections()
        self.running_task = True  # a stop signal lets it finish, as it does a task
        try:
            self.housekeeping.run_due()
        finally:
            self.running_task = False

    def run_once(self) -> bool | None:
        """Claim and run one task: True if one ran, False if none was ready, None if the
        queue was locked (SQLite). Database errors propagate to `run`."""
        close_old_connections()
        tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
        if not self.process_all_queues:
            tasks = tasks.filter(queue_name__in=self.queue_names)
        if self.excluded_queue_names:
            tasks = tasks.exclude(queue_name__in=self.excluded_queue_names)
        with exclusive_transaction(tasks.db):
            try:
                task_result = tasks.get_locked()
                if task_result is not None:
                    task_result.claim(self.worker_id)  # so no other worker runs it
            except OperationalError as exc:
                if not is_locked_database_exception(exc):
                    raise
                return None
        if task_result is None:
            return False
        # A task that fails records its failure; if recording it fails (the database went
        # away mid-task), the error reaches `run`, the task stays `RUNNING` and what it
        # was doing is recovered by its own means (a webhook try by its lease).
        self.run_task(task_result)
        close_old_connections()
        return True

    def _database_failed(self, exc: Exception) -> None:
        self.failures += 1
        if self.down_since is None:
            self.down_since = time.monotonic()
        delay = backoff(self.failures, self.max_backoff)
        logger.warning(
            "Database unavailable (%s: %s); trying again in %.1f s (failure %d in a row)",
            type(exc).__name__,
            str(exc).strip().splitlines()[0] if str(exc).strip() else "",
            delay,
            self.failures,
        )
        _close_connections(connections.all(initialized_only=True))
        self.sleep(delay)

    def _database_answered(self) -> None:
        if self.down_since is not None:
            logger.warning(
                "Database reachable again after %.1f s; going on",
                time.monotonic() - self.down_since,
            )
        self.failures = 0
        self.down_since = None


def _close_connections(conns: Iterable[Any]) -> None:
    for conn in conns:
        with contextlib.suppress(DatabaseError):  # already broken: the next query reopens
            conn.close()
