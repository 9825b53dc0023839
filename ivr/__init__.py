"""ivr: makes sure every call and text to a Twilio support line reaches a person."""

from importlib import metadata, resources
from pathlib import Path

#: The folder an installed wheel carries schema.sql and the template
#: folders in (setup.py copies them there at build time); a checkout keeps
#: them beside the package, where the developers' guide puts them.
BUNDLED_FOLDER = "bundled"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _data_root() -> Path:
    bundled = Path(str(resources.files(__name__) / BUNDLED_FOLDER))
    return bundled if (bundled / "schema.sql").is_file() else PROJECT_ROOT


DATA_ROOT = _data_root()
SCHEMA_PATH = DATA_ROOT / "schema.sql"
TEMPLATES_PATH = DATA_ROOT / "twiml_templates"
DASHBOARD_TEMPLATES_PATH = DATA_ROOT / "dashboard_templates"


def _version() -> str:
    try:
        return metadata.version("ivr")
    except metadata.PackageNotFoundError:   # run from a checkout that was never installed
        return "0+checkout"


__version__ = _version()
