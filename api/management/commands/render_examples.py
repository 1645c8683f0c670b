"""Render the OpenAPI examples from the real plan into api/v1/examples.json."""

from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection

from api.examples import EXAMPLES_PATH, dump_examples, render_examples


class Command(BaseCommand):
    help = (
        "Load the real 2021 plan into a throwaway database, send every example request "
        "to the API and write the answers to api/v1/examples.json (or --check it)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="Fail if api/v1/examples.json differs from what the code renders.",
        )

    def handle(self, *args: Any, check: bool, **options: Any) -> None:
        old_name = connection.settings_dict["NAME"]
        connection.creation.create_test_db(verbosity=0, autoclobber=True)
        try:
            text = dump_examples(render_examples())
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)
        if check:
            current = EXAMPLES_PATH.read_text(encoding="utf-8") if EXAMPLES_PATH.exists() else ""
            if current != text:
                self.stderr.write(f"{EXAMPLES_PATH} is out of date: run `make schema`.")
                raise SystemExit(1)
            self.stdout.write(f"{EXAMPLES_PATH} is up to date.")
            return
        EXAMPLES_PATH.write_text(text, encoding="utf-8")
        self.stdout.write(f"Wrote {EXAMPLES_PATH}.")
