"""The `ivr` command run in-process, as an operator would from a shell."""

from __future__ import annotations

import io
import os

import pytest

from ivr.cli import main

from .harness import EXAMPLE_CONFIG


def run(*argv: str) -> tuple[int, str, str]:
    """`ivr ARGV…`: its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No Twilio or ivr variable from the outside; the example config on a
    database of the test's own (the path conftest's config uses too)."""
    for name in list(os.environ):
        if name.startswith(("TWILIO_", "IVR_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("IVR_DATABASE", str(tmp_path / "ivr.sqlite3"))
    monkeypatch.setenv("IVR_CONFIG", str(EXAMPLE_CONFIG))
    return monkeypatch
