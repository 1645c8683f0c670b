import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from workplan.services import plan_import

DEFAULT_FIXTURE = Path(settings.BASE_DIR) / "fixtures" / "workplan-2021.json"


class Command(BaseCommand):
    help = "Load the work plan from a JSON document, updating objects in place by code."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "path", nargs="?", default=str(DEFAULT_FIXTURE), help="Plan document (JSON)."
        )

    def handle(self, *args: Any, path: str, **options: Any) -> None:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        result = plan_import(data=data)
        self.stdout.write(f"Loaded {path}: {result.summary()}")
