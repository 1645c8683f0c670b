from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from workplan.choices import Role
from workplan.models import Agency, TokenScope
from workplan.services import SYSTEM, api_token_create, partner_user_set


class Command(BaseCommand):
    help = (
        "Create or update a partner user with an agency and role, and issue a token for it. "
        "Prints only the token, which is shown once."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--agency", help="Acronym or code of the user's agency.")
        parser.add_argument("--role", choices=[r.value for r in Role], required=True)
        parser.add_argument("--expires-days", type=int, default=None)
        parser.add_argument(
            "--scope",
            choices=[s.value for s in TokenScope],
            help="Default: read for readers, write for editors and admins.",
        )
        parser.add_argument("--name", default="", help="What the token is for.")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        role = options["role"]
        agency = None
        if options["agency"]:
            value = options["agency"].upper()
            agency = Agency.objects.active().filter(Q(acronym=value) | Q(code=value)).first()
            if agency is None:
                raise CommandError(f"No active agency with acronym or code {options['agency']!r}.")
        elif role != Role.ADMIN:
            raise CommandError("Readers and editors need --agency.")
        if options["expires_days"] is not None and options["expires_days"] < 1:
            raise CommandError("--expires-days must be 1 or more.")

        user = partner_user_set(
            actor=SYSTEM, username=options["username"], agency=agency, role=role
        )
        scope = options["scope"] or (TokenScope.READ if role == Role.READER else TokenScope.WRITE)
        expires_at = (
            timezone.now() + timedelta(days=options["expires_days"])
            if options["expires_days"]
            else None
        )
        _, plaintext = api_token_create(
            actor=SYSTEM, user=user, scope=scope, name=options["name"], expires_at=expires_at
        )
        self.stdout.write(plaintext)
