from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand

from workplan.webhooks import webhook_sweep


class Command(BaseCommand):
    help = (
        "Queue again the pending webhook deliveries nobody is trying: a try whose lease ran "
        "out (its worker died), or a due try with no task queued. The worker "
        "(`manage.py run_worker`) does this itself every WORKER_SWEEP_SECONDS; this command "
        "is for doing it by hand."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--older-than-minutes",
            type=int,
            default=None,
            help="Only due tries with no task that were due longer ago than this "
            "(default: WEBHOOK_LEASE_SECONDS). Expired leases are always taken.",
        )

    def handle(self, *args: Any, older_than_minutes: int | None, **options: Any) -> None:
        grace = None if older_than_minutes is None else timedelta(minutes=older_than_minutes)
        count = webhook_sweep(grace=grace)
        self.stdout.write(f"Queued {count} stuck delivery(ies) again.")
