"""docker-compose.yml: web, worker and beat from one image, started in order of health.

Docker is not available where the suite runs, so this checks the file's structure.
"""

from __future__ import annotations

import yaml

from tests.support.processes import ROOT


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_it_runs_web_worker_and_beat_from_one_image_with_postgres_and_redis():
    services = compose()["services"]
    assert set(services) == {"web", "worker", "beat", "postgres", "redis"}
    app = [services[name] for name in ("web", "worker", "beat")]
    assert {s["build"] for s in app} == {"."} and len({s["image"] for s in app}) == 1
    assert "gunicorn jobsconsole.wsgi" in " ".join(services["web"]["command"])
    assert services["worker"]["command"][:4] == ["celery", "-A", "jobsconsole", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "jobsconsole", "beat"]
    for service in app:
        assert service["environment"]["DATABASE_URL"].startswith("postgres://")
        assert service["environment"]["REDIS_URL"].startswith("redis://redis:")
    assert (ROOT / "Dockerfile").read_text().startswith("# One image")


def test_it_starts_each_service_only_once_what_it_needs_is_healthy():
    services = compose()["services"]
    for name in ("postgres", "redis", "web", "worker"):
        assert services[name]["healthcheck"]["test"], name
    assert services["web"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    # web migrates before it answers; worker and beat wait for that.
    assert "migrate" in " ".join(services["web"]["command"])
    for name in ("worker", "beat"):
        assert services[name]["depends_on"]["web"] == {"condition": "service_healthy"}
