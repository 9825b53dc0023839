"""The dashboard's blueprint, shared by its views and its login. Its script
and styles are files under dashboard_templates/static/ (no inline script or
style, so the Content-Security-Policy can forbid them)."""

from quart import Blueprint

from .. import DASHBOARD_TEMPLATES_PATH

blueprint = Blueprint("dashboard", __name__, url_prefix="/dashboard",
                      static_folder=str(DASHBOARD_TEMPLATES_PATH / "static"),
                      static_url_path="/static")
