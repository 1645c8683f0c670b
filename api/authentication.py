"""Bearer tokens for partner systems (`Authorization: Bearer wpt_<prefix>_<secret>`).

Failed tokens are counted per client address (api.throttling.BadTokenBrake): past the
limit the address gets 429 with Retry-After, whatever token it sends, until the window
ends.
"""

from __future__ import annotations

import hmac
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from api.throttling import BadTokenBrake
from workplan.models import ApiToken
from workplan.models.access import TOKEN_PREFIX, hash_token_secret
from workplan.services.tokens import api_token_mark_used


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        brake = BadTokenBrake()
        brake.check(request)
        try:
            return self._authenticate(header)
        except exceptions.AuthenticationFailed:
            brake.failed(request)
            raise

    def _authenticate(self, header: list[bytes]) -> tuple[Any, ApiToken]:
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Send exactly one token: Authorization: Bearer <token>."
            )
        try:
            plaintext = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token.") from exc
        parts = plaintext.split("_", 2)
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            raise exceptions.AuthenticationFailed("Invalid token.")
        token = (
            ApiToken.objects.select_related("user__membership__agency")
            .filter(prefix=parts[1])
            .first()
        )
        if token is None or not hmac.compare_digest(token.key_hash, hash_token_secret(plaintext)):
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not token.is_usable():
            raise exceptions.AuthenticationFailed("This token has expired or was revoked.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token's user is inactive.")
        api_token_mark_used(token=token)
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        return f'{self.keyword} realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "A partner token, `wpt_<prefix>_<secret>`, issued by a plan admin in the admin "
                "or with `manage.py create_api_token`. Read tokens read; write tokens also "
                "write, within the role of their user."
            ),
        }
