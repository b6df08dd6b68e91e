# syntax=docker/dockerfile:1.7
# AluMusic Insights: one image for web (gunicorn), worker and beat (celery). boot.sh picks the role.
#
#   docker build -t alumusic-insights .
#   docker run --env-file .env alumusic-insights            # web: migrate, ensure model/admin, gunicorn
#   docker run --env-file .env alumusic-insights celery -A make_celery worker ...

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: compile/collect every wheel once, with the toolchain kept out of the runtime image ---------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY requirements.txt .
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt

# --- runtime: slim, non-root, code read-only for the process that runs it ---------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLASK_APP=wsgi:app \
    APP_ENV=production \
    PORT=8000 \
    HOST=0.0.0.0 \
    MODEL_DIR=/var/lib/alumusic/models

RUN groupadd --system --gid 10001 alumusic \
    && useradd --system --uid 10001 --gid alumusic --home-dir /app --no-create-home --shell /usr/sbin/nologin alumusic

WORKDIR /app
COPY requirements.txt .
# Installs only the wheels built above (no network, no compiler); the wheel dir is mounted, not copied,
# so it adds nothing to the image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels -r requirements.txt

COPY app ./app
COPY data ./data
COPY migrations ./migrations
COPY wsgi.py make_celery.py gunicorn.conf.py ./
COPY --chmod=0755 boot.sh ./

# The only writable places: instance/ (mail outbox of the embedded path) and the volumes for the trained models
# (shared by web and worker) and celery beat's schedule file.
RUN mkdir -p /app/instance /var/lib/alumusic/models /var/lib/alumusic/beat \
    && chown -R alumusic:alumusic /app/instance /var/lib/alumusic

USER alumusic
EXPOSE 8000

# Liveness of the web role. The first boot may train the model before gunicorn listens, hence the start period;
# worker and beat override this check in docker-compose.yml.
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=4)"]

ENTRYPOINT ["/app/boot.sh"]
CMD ["web"]
