import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

django_application = get_wsgi_application()

from api.middleware import ChunkedBodyBuffer  # noqa: E402  (imports models: after setup)

# Chunked request bodies are read and measured before Django sees them (see the class).
application = ChunkedBodyBuffer(django_application)
