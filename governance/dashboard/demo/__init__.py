"""The living demo (``manage.py demo_fleet``): a small fleet of strategies replaying candles as
live intents, and a stand-in trade engine that fills approved signals.

Never started in production: the command refuses unless ``DASHBOARD_DEMO_FLEET_ALLOWED``.
"""
