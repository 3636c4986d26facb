from jobs.views.dashboard import dashboard

__all__ = ["dashboard"]
