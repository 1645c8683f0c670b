import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.management.base import BaseCommand, CommandError

from workplan.policy import SYSTEM
from workplan.services import VersionMismatch, plan_import

DEFAULT_FIXTURE = Path(settings.BASE_DIR) / "fixtures" / "workplan-2021.json"
# The request id of the audit events an overwriting load records, to find them again.
OVERWRITE_REQUEST_ID = "load_workplan --overwrite"


class Command(BaseCommand):
    help = (
        "Load the work plan from a JSON document: creates what is missing and updates, by "
        "code, only the fields nobody has edited since the last load (edited fields are "
        "kept and listed; --overwrite resets them to the document's values)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "path", nargs="?", default=str(DEFAULT_FIXTURE), help="Plan document (JSON)."
        )
        parser.add_argument(
            "--overwrite",
            action="store_true",
            help="Also reset fields edited through the API or the admin since the last load "
            "to the document's values (audited, with request id "
            f"'{OVERWRITE_REQUEST_ID}').",
        )

    def handle(self, *args: Any, path: str, overwrite: bool = False, **options: Any) -> None:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise CommandError(
                f"{path} must hold a JSON object with pillars, goals, agencies, projects."
            )
        actor = replace(SYSTEM, request_id=OVERWRITE_REQUEST_ID) if overwrite else SYSTEM
        try:
            result = plan_import(data=data, actor=actor, overwrite=overwrite)
        except (ValidationError, ObjectDoesNotExist) as exc:
            raise CommandError(f"{path} is not a valid plan (nothing was loaded): {exc}") from exc
        except VersionMismatch as exc:
            raise CommandError(f"Nothing was loaded: {exc} Run the command again.") from exc
        except (KeyError, TypeError, AttributeError) as exc:
            raise CommandError(
                f"{path} is not a valid plan (nothing was loaded): missing or malformed {exc}"
            ) from exc
        self.stdout.write(f"Loaded {path}:")
        for kind in result.kinds():
            self.stdout.write(f"  {result.kind_summary(kind)}")
        if result.kept_count:
            self.stdout.write(
                f"Kept {result.kept_count} field(s) edited since the last load; "
                "`load_workplan --overwrite` resets them to the document's values."
            )
        if result.overwritten_count:
            self.stdout.write(
                self.style.WARNING(
                    f"Overwrote {result.overwritten_count} edited field(s) with the "
                    "document's values (audit events with request id "
                    f"'{OVERWRITE_REQUEST_ID}')."
                )
            )
