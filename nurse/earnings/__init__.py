"""The earnings report: net profit, shadow ROI, blocking rules, policy changes, incidents.

``selectors.earnings_summary`` is the one read every door uses (the HTML page, the e-mail,
the API's ``GET /api/v1/earnings-summary`` and the MCP tool ``get_earnings_summary``).
"""
