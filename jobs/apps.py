from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from jobs import conf, entrypoints

        conf.install_defaults()
        entrypoints.load_modules()
        _check_four_eyes()


def _check_four_eyes() -> None:
    """JOBS_FOUR_EYES may name only the destructive actions (or say "on"): a typo must not
    leave an action without the second admin it was meant to need."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    from jobs.actions.catalog import ACTIONS

    eligible = sorted(name for name, action in ACTIONS.items() if action.four_eyes)
    unknown = {str(name).strip().lower() for name in settings.JOBS_FOUR_EYES} - {"on", *eligible}
    if unknown:
        raise ImproperlyConfigured(
            f"JOBS_FOUR_EYES: {', '.join(sorted(unknown))} cannot need a second admin; "
            f"name some of {', '.join(eligible)}, or say on"
        )
