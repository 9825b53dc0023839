"""How ivr names its own command in what it prints (local mode's banner,
`ivr simulate`'s hints), so that it runs as printed when pasted into another
terminal: `ivr` when that is on the PATH and is this very install, else this
interpreter's full path with `-m ivr` (a bare `python` may be another one,
without ivr)."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path


def ivr_command() -> str:
    found = shutil.which("ivr")
    # The interpreter's own path is not resolved: a venv's python is a link
    # to the system's. pipx links `ivr` on the PATH into the venv's bin/.
    here = Path(sys.executable).absolute().parent
    if found and Path(found).resolve().parent in (here, here.resolve()):
        return "ivr"
    return f"{shlex.quote(sys.executable)} -m ivr"


def config_argument(path: str) -> str:
    """--config as an absolute path: the other terminal may be elsewhere."""
    return f"--config {shlex.quote(os.path.abspath(path))}"
