"""Report pages, mounted at ``/reports/earnings/`` by ``cio_site.urls``."""

from __future__ import annotations

from django.urls import path

from nurse.earnings import views

app_name = "earnings"

urlpatterns = [
    path("", views.report_latest, name="report-latest"),
    path("<int:pk>/", views.report_detail, name="report-detail"),
]
