from urllib.parse import urlsplit, urlunsplit

from django.db import migrations, models


def strip_credentials(apps, schema_editor):
    """Targets with credentials in the URL are refused from now on: take the credentials out
    of existing ones (they were shown to everyone reading the subscription) and pause them,
    so an admin decides what the receiver should check instead (the signature)."""
    WebhookSubscription = apps.get_model("workplan", "WebhookSubscription")
    for subscription in WebhookSubscription.objects.filter(url__contains="@"):
        parts = urlsplit(subscription.url)
        if "@" not in parts.netloc:
            continue
        netloc = parts.netloc.rsplit("@", 1)[1]
        subscription.url = urlunsplit(parts._replace(netloc=netloc))
        subscription.is_active = False
        subscription.save(update_fields=["url", "is_active"])


class Migration(migrations.Migration):
    dependencies = [
        ("workplan", "0007_meetings_progress"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookdelivery",
            name="leased_until",
            field=models.DateTimeField(
                blank=True,
                db_index=True,
                help_text="Set while a try is running: past it, the try is taken for dead "
                "and the delivery is queued again.",
                null=True,
            ),
        ),
        migrations.RunPython(strip_credentials, migrations.RunPython.noop),
    ]
