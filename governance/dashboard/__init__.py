"""The commander dashboard: a live governance view over Channels (docs/dashboard.md).

Realtime path (the Baserow pattern): a domain event (a gate decision on NATS, a Nurse
heartbeat, a policy change) -> the bridge (``bridge.py``) aggregates and ``group_send``s one
bounded batch per tick -> ``consumers.DashboardConsumer`` only manages group membership and
forwards. Pages are server-rendered (``views.py``, ``templates/dashboard/``) with a small
vanilla module (``governance/static/dashboard/dashboard.js``) and a polling fallback.
"""
