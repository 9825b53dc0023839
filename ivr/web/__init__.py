"""What people and machines look at over the web, beside the webhooks.

  dashboard.py   the operators' dashboard: live conversations and calls, close, hand over
  login.py       the operator's password and accounts' logins, sessions, CSRF, login limits
  access.py      who is signed in, and the role check on every action route
  people.py      the People page: admins manage the accounts
  reveal.py      a customer's whole number, on a logged click
  line_report.py the picture of the line: figures, charts, who is on now
  blueprint.py   the dashboard's blueprint, shared by dashboard.py and login.py
  metrics.py     Prometheus metrics and GET /metrics
  health.py      GET /healthz
"""
