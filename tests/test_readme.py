"""The README's two commands are the ones that work."""

import re

from .support.harness import REPO


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text("utf-8")
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)[:2]


def test_ci_runs_exactly_the_readmes_test_command():
    run, test = readme_commands()
    ci_lines = (REPO / ".ci" / "run").read_text("utf-8").splitlines()
    assert test in ci_lines


def test_the_run_command_uses_the_example_config_and_run_py():
    run, _ = readme_commands()
    assert "run.py --config examples/ivr.toml" in run
    assert (REPO / "examples" / "ivr.toml").exists()
