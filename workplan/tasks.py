"""Background tasks, run by Django's task framework (`manage.py run_worker`)."""

from django.tasks import task

from workplan.webhooks import webhook_attempt


@task(queue_name="webhooks")
def deliver_webhook(delivery_id: int, due: str | None = None) -> None:
    webhook_attempt(delivery_id=delivery_id, due=due)
