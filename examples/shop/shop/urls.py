from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("ops/", include("jobs.urls")),  # 4. the console, its API, /metrics and the GitHub webhook
    path("orders/", include("orders.urls")),
]
