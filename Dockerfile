FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN useradd --system --create-home --uid 10001 app

WORKDIR /app

# Dependencies get their own layer, rebuilt only when pyproject.toml changes. With no
# package directories present yet, `pip install .` builds an empty distribution (README.md
# is stubbed because pyproject names it); that distribution is then removed, so the code
# is imported from /app only, never from a second copy in site-packages.
COPY pyproject.toml /tmp/deps/
RUN cd /tmp/deps && touch README.md \
    && pip install --no-cache-dir . \
    && pip uninstall -y workplan-api \
    && rm -rf /tmp/deps

# The code stays owned by root: the app user can read it but not modify it.
COPY . .

ENV DJANGO_SETTINGS_MODULE=config.settings.production

# Production settings require these; the values exist for this step only.
RUN DJANGO_SECRET_KEY=build-only \
    DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    DJANGO_ALLOWED_HOSTS=localhost \
    API_PUBLIC_URL=http://localhost:8000 \
    python manage.py collectstatic --noinput

USER app

EXPOSE 8000

# Sends the first DJANGO_ALLOWED_HOSTS entry as Host, so the check still passes when
# 127.0.0.1 is not an allowed host. /health/ is exempt from the HTTPS redirect.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os,urllib.request as u;h=os.environ.get('DJANGO_ALLOWED_HOSTS','').split(',')[0].strip().lstrip('.*') or 'localhost';u.urlopen(u.Request('http://127.0.0.1:8000/health/',headers={'Host':h}),timeout=4)"]

# Worker class, counts and limits are in config/gunicorn.py (WEB_CONCURRENCY, GUNICORN_THREADS);
# in production it runs behind the buffering proxy of deploy/nginx (see docker-compose.yml).
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"]
