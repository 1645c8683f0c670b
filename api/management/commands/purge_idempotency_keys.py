from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from api.models import IdempotencyRecord


class Command(BaseCommand):
    help = "Delete Idempotency-Key records older than the replay window (API_IDEMPOTENCY_HOURS)."

    def handle(self, *args: Any, **options: Any) -> None:
        cutoff = timezone.now() - timedelta(hours=settings.API_IDEMPOTENCY_HOURS)
        deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
        self.stdout.write(f"Deleted {deleted} expired idempotency record(s).")
