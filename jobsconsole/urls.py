from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from jobs.api import api
from jobs.api.metrics import metrics
from jobs.github.webhook import webhook

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("django-admin/", admin.site.urls),
    path("api/", api.urls),
    path("metrics", metrics, name="metrics"),
    path("github/webhook", webhook, name="github-webhook"),
    path("", include("jobs.urls")),
]
