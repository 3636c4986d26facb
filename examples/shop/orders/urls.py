from django.urls import path

from orders import views

urlpatterns = [
    path("", views.place_order, name="place-order"),
    path("tasks/<str:result_id>/", views.task_status, name="task-status"),
]
