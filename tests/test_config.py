"""Every config mistake names the file, the key and the fix."""

import pytest

from ivr.config import ConfigError, load_config, parse_config

from .support.harness import EXAMPLE_CONFIG

GOOD = {
    "responders": {
        "sergio": {"name": "Sergio", "phone": "+16195550101"},
        "backup": {"name": "Backup", "phone": "(858) 555-0199"},
    },
    "lines": {
        "qdn": {"name": "Quick Dump Now", "number": "+16195550100",
                "tiers": ["sergio", ["backup", "sergio"]], "ring_seconds": 20,
                "ack_seconds": 120},
    },
}


def with_change(path: str, value):
    import copy
    data = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    target = data
    for key in parents:
        target = target.setdefault(key, {})
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return data


def test_the_example_config_loads():
    config = load_config(EXAMPLE_CONFIG)
    line = config.line_for_number("+16195550100")
    assert line is not None and line.tiers == (("sergio",), ("backup",))
    assert line.ring_seconds == 20 and line.ack_seconds == 120 and line.code == "QDN"


def test_numbers_are_normalised_and_tiers_may_ring_several_at_once():
    config = parse_config(GOOD, "ivr.toml")
    assert config.responders["backup"].phone == "+18585550199"
    assert config.lines["qdn"].tiers == (("sergio",), ("backup", "sergio"))
    assert config.lines["qdn"].responder_ids == ("sergio", "backup")


@pytest.mark.parametrize("path, value, key, fix", [
    ("responders.sergio.phone", "+1555", "responders.sergio.phone", "E.164"),
    ("responders.sergio.phone", "call me", "responders.sergio.phone", "E.164"),
    ("responders.sergio.name", KeyError, "responders.sergio.name", 'add name = "..."'),
    ("responders.sergio.nmae", "x", "responders.sergio.nmae", "remove it or use one of"),
    ("responders.backup.phone", "+16195550101", "responders.backup.phone", "their own phone"),
    ("lines.qdn.number", "+16195550101", "lines.qdn.number", "not a responder's phone"),
    ("lines.qdn.number", 6195550100, "lines.qdn.number", 'write number = "..."'),
    ("lines.qdn.tiers", ["sergio", "bakup"], "lines.qdn.tiers[1]", "sergio"),
    ("lines.qdn.tiers", [], "lines.qdn.tiers", 'tiers = ["sergio"'),
    ("lines.qdn.tiers", [[]], "lines.qdn.tiers[0]", "name at least one responder"),
    ("lines.qdn.tiers", [["sergio", "sergio"]], "lines.qdn.tiers[0]", "once per tier"),
    ("lines.qdn.tiers", KeyError, "lines.qdn.tiers", "add tiers"),
    ("lines.qdn.ring_seconds", 2, "lines.qdn.ring_seconds", "from 5 to 120"),
    ("lines.qdn.ring_seconds", "20", "lines.qdn.ring_seconds", "ring_seconds = 20"),
    ("lines.qdn.ack_seconds", True, "lines.qdn.ack_seconds", "ack_seconds = 120"),
    ("lines.qdn.messages", {"ack": "Hi {{ nobody }}"}, "lines.qdn.messages.ack", "responder"),
    ("lines.qdn.messages", {"ack": "Hi {{ responder"}, "lines.qdn.messages.ack", "variables"),
    ("lines.qdn.messages", {"greet": "Hi"}, "lines.qdn.messages.greet", "ack"),
    ("lines", {}, "lines", "[lines.<id>]"),
    ("responders", KeyError, "responders", "add a [responders] table"),
    ("extra", 1, "extra", "remove it"),
])
def test_each_mistake_names_file_key_and_fix(path, value, key, fix):
    with pytest.raises(ConfigError) as caught:
        parse_config(with_change(path, value), "/etc/ivr/ivr.toml")
    error = caught.value
    assert error.path == "/etc/ivr/ivr.toml"
    assert error.key == key
    assert fix in error.fix
    assert str(error).startswith(f"/etc/ivr/ivr.toml: {key}: ")


def test_two_lines_cannot_share_a_number():
    data = with_change("lines.other", {"name": "Other", "number": "+16195550100",
                                       "tiers": ["sergio"]})
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "ivr.toml")
    assert caught.value.key == "lines.other.number"


def test_a_missing_file_and_bad_toml_are_named(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.toml")
    assert "nope.toml" in str(caught.value) and "IVR_CONFIG" in caught.value.fix

    broken = tmp_path / "broken.toml"
    broken.write_text("[lines.qdn\nname = 1\n")
    with pytest.raises(ConfigError) as caught:
        load_config(broken)
    assert str(broken) in str(caught.value) and "not valid TOML" in caught.value.problem


def test_ivr_database_overrides_the_config(tmp_path):
    config = load_config(EXAMPLE_CONFIG, database_override=str(tmp_path / "x.sqlite3"))
    assert config.database == str(tmp_path / "x.sqlite3")


def test_the_examples_commented_options_are_valid_too(tmp_path):
    """The commented-out hours, schedules and menu in the example are real config."""
    import re
    text = EXAMPLE_CONFIG.read_text()
    uncommented = re.sub(r"(?m)^# ((\[|[a-z_]+ = ).*)$", r"\1", text)
    assert uncommented.count("\n#") < text.count("\n#")
    path = tmp_path / "ivr.toml"
    path.write_text(uncommented)
    config = load_config(path)
    line = config.lines["qdn"]
    assert line.hours is not None and line.hours.after_hours == "on_call"
    assert line.menu is not None and [o.name for o in line.menu.options] == ["pick-up", "billing"]
    assert config.responders["sergio"].schedule.on_duty[0].text == "mon-fri 08:00-18:00"
    assert config.calendars == (str(tmp_path / "oncall.ics"),)
