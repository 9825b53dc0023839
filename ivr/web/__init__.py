"""What people and machines look at over the web, beside the webhooks.

  dashboard.py   the operators' dashboard: live conversations and calls, close, hand over
  history.py     the history page: conversations and calls searched, paged, exported as CSV
  transcript.py  a conversation's page: every message both ways beside its decision trail
  media_proxy.py recordings and MMS media fetched from Twilio for the operator
  login.py       the operator's password, sessions, CSRF and login limits
  blueprint.py   the dashboard's blueprint, shared by dashboard.py and login.py
  metrics.py     Prometheus metrics and GET /metrics
  health.py      GET /healthz
"""
