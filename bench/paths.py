"""Where the benchmark finds what it measures: the repository (or the copy of
it that a run measures, see run.py), the tests' fake Twilio, this
interpreter and the example configuration the service is started with.

Importing this module puts bench/ and the repository on sys.path, in
that order of precedence, so `import ivr`, `import tests.support.fake_twilio` and the bench
modules resolve to the tree this file is in.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for _path in (REPO, BENCH):
    sys.path.insert(0, str(_path))

PY = sys.executable
CONFIG = REPO / "examples" / "ivr.toml"
