"""The dashboard's blueprint, shared by its views and its login."""

from quart import Blueprint

blueprint = Blueprint("dashboard", __name__, url_prefix="/dashboard")
