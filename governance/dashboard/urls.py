"""Dashboard routes (``/dashboard/``) and the operator login (``/accounts/``)."""

from __future__ import annotations

from django.urls import path

from governance.dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.index, name="index"),
    path("live/", views.live, name="live"),
    path("panels/<slug:name>/", views.panel, name="panel"),
    path("control/state/", views.control_state, name="control-state"),
    path("control/rollback/", views.control_rollback, name="control-rollback"),
    path("decisions/<str:decision_id>/", views.decision, name="decision"),
    path("assets/<str:name>", views.asset, name="asset"),
]

# Mounted at /accounts/ under the "accounts" namespace.
account_urlpatterns = [
    path("login/", views.DashboardLoginView.as_view(), name="login"),
    path("logout/", views.DashboardLogoutView.as_view(), name="logout"),
]
