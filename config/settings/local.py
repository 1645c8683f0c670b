"""Settings for a developer's machine: `make run`."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="local-development-only-not-secret")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
# `make run` serves on loopback and partners testing locally receive there too.
WEBHOOK_ALLOWED_PRIVATE_NETWORKS = env.list(
    "WEBHOOK_ALLOWED_PRIVATE_NETWORKS", default=["127.0.0.0/8", "::1/128"]
)
