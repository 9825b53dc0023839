"""What people and machines look at over the web, beside the webhooks.

  dashboard.py   the operators' dashboard: live conversations and calls, close, hand over
  login.py       the operator's password, sessions, CSRF and login limits
  blueprint.py   the dashboard's blueprint, shared by dashboard.py and login.py
  metrics.py     Prometheus metrics and GET /metrics
  health.py      GET /healthz
"""
