"""The JSON API of API.md (django-ninja): routers per concern, one NinjaAPI."""

from ninja import NinjaAPI

api = NinjaAPI(title="Jobs Console API", version="1", urls_namespace="api", openapi_url="/openapi.json")
