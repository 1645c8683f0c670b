import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from workplan.choices import Role

from .agencies import Agency
from .base import TimeStampedModel

TOKEN_PREFIX = "wpt"


class AgencyMembership(TimeStampedModel):
    """The agency a partner user acts for, and its role there."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership"
    )
    agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, null=True, blank=True, related_name="members"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.READER)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(role=Role.ADMIN) | Q(agency__isnull=False),
                name="membership_agency_unless_admin",
                violation_error_message="Readers and editors belong to an agency.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} of {self.agency or 'the plan'}"


class TokenScope(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Read and write"


def hash_token_secret(secret: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token of a partner system. Only its hash is stored; it is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True, help_text="What the token is for.")
    prefix = models.CharField(
        max_length=16, unique=True, editable=False, help_text="Visible part, to tell tokens apart."
    )
    key_hash = models.CharField(max_length=64, editable=False)
    scope = models.CharField(max_length=5, choices=TokenScope.choices, default=TokenScope.READ)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{TOKEN_PREFIX}_{self.prefix}… ({self.user})"

    @staticmethod
    def generate() -> tuple[str, str, str]:
        """A new (plaintext token, prefix, hash). The plaintext is never stored."""
        prefix = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        plaintext = f"{TOKEN_PREFIX}_{prefix}_{secret}"
        return plaintext, prefix, hash_token_secret(plaintext)

    def is_usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
