# One image for web (gunicorn), worker and beat; docker-compose.yml picks the command.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    JOBS_VAR_DIR=/app/var

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files are collected into the image (whitenoise serves them with hashed names).
RUN SECRET_KEY=collectstatic-at-build-time-only python manage.py collectstatic --noinput --verbosity 0 \
    && useradd --system --home-dir /app jobs \
    && mkdir -p /app/var \
    && chown -R jobs /app/var
USER jobs

EXPOSE 8000
# Long work runs as background operations; the time-out only bounds reading a big upload (64 MB).
CMD ["gunicorn", "jobsconsole.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120", "--access-logfile", "-", "--no-control-socket"]
