from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API"

    def ready(self) -> None:
        # Webhook bodies are the API's wire format: each version renders its own.
        from api.v1.webhooks import render_webhook_payload
        from workplan.webhooks import register_payload_renderer

        register_payload_renderer("v1", render_webhook_payload)
