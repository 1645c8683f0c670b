import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, ValidationError
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
        if not isinstance(data, dict):
            raise CommandError(
                f"{path} must hold a JSON object with pillars, goals, agencies, projects."
            )
        try:
            result = plan_import(data=data)
        except (ValidationError, ObjectDoesNotExist) as exc:
            raise CommandError(f"{path} is not a valid plan (nothing was loaded): {exc}") from exc
        except (KeyError, TypeError, AttributeError) as exc:
            raise CommandError(
                f"{path} is not a valid plan (nothing was loaded): missing or malformed {exc}"
            ) from exc
        self.stdout.write(f"Loaded {path}: {result.summary()}")
