"""ivr: makes sure every call and text to a Twilio support line reaches a person."""

from pathlib import Path

#: The repository root: schema.sql and twiml_templates/ live beside the package.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = PROJECT_ROOT / "schema.sql"
TEMPLATES_PATH = PROJECT_ROOT / "twiml_templates"
DASHBOARD_TEMPLATES_PATH = PROJECT_ROOT / "dashboard_templates"
