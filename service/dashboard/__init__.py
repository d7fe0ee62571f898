"""The explanations dashboard the service mounts at /dashboard: static page + GET data."""

from service.dashboard.app import DashboardSource, build_dashboard_app

__all__ = ["DashboardSource", "build_dashboard_app"]
