from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from workplan.models import DeliveryStatus, WebhookDelivery
from workplan.webhooks import webhook_redeliver


class Command(BaseCommand):
    help = (
        "Queue again the webhook deliveries left pending with no live task (a worker that "
        "died mid-try, a lost queue). Run it periodically, e.g. every 15 minutes."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--older-than-minutes",
            type=int,
            default=15,
            help="Only deliveries whose try was due (or taken) longer ago than this.",
        )

    def handle(self, *args: Any, older_than_minutes: int, **options: Any) -> None:
        cutoff = timezone.now() - timedelta(minutes=older_than_minutes)
        stuck = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).filter(
            # due long ago, or taken by a try (next_attempt_at cleared) that never finished
            Q(next_attempt_at__lt=cutoff)
            | Q(next_attempt_at__isnull=True, last_attempt_at__lt=cutoff)
            | Q(next_attempt_at__isnull=True, last_attempt_at__isnull=True, created_at__lt=cutoff)
        )
        count = 0
        for delivery in stuck:
            with transaction.atomic():
                webhook_redeliver(delivery=delivery)
            count += 1
        self.stdout.write(f"Queued {count} stuck delivery(ies) again.")
