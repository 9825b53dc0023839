"""What people and machines look at over the web, beside the webhooks.

  dashboard.py   the operators' dashboard: live conversations and calls, close, hand over
  login.py       the operator's password and accounts' logins, sessions, CSRF, login limits
  access.py      who is signed in, and the role check on every action route
  people.py      the People page: admins manage the accounts
  reveal.py      a customer's whole number, on a logged click
  line_report.py the picture of the line: figures, charts, who is on now
  history.py     the history page: conversations and calls searched, paged, exported as CSV
  transcript.py  a conversation's page: every message both ways beside its decision trail
  media_proxy.py recordings and MMS media fetched from Twilio for the operator
  blueprint.py   the dashboard's blueprint, shared by dashboard.py and login.py
  metrics.py     Prometheus metrics and GET /metrics
  health.py      GET /healthz
"""
