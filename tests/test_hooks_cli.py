"""`ivr hooks test NAME` and `ivr hooks list` against a real endpoint on
loopback, and the mistakes in [hooks.NAME] a user can make, each named
with its key and fix."""

from __future__ import annotations

import asyncio
import json
import re
import time
import tomllib

import jsonschema
import pytest

from ivr import hook_signing
from ivr.config import ConfigError, parse_config
from ivr.hooks.payload import SCHEMA_PATH
from ivr.secrets import load_secrets

from .support import cli
from .support.harness import EXAMPLE_CONFIG
from .support.hook_receiver import HookReceiver

clean_env = cli.clean_env   # a fixture
run = cli.run

SECRET = "hook-secret-0123456789abcdef"


@pytest.fixture
async def receiver():
    started = await HookReceiver().start()
    yield started
    await started.stop()


def config_with_hook(tmp_path, table: str) -> str:
    path = tmp_path / "ivr.toml"
    path.write_text(EXAMPLE_CONFIG.read_text("utf-8") + "\n" + table, "utf-8")
    return str(path)


async def test_hooks_test_sends_a_signed_sample_event_and_prints_the_answer(
        clean_env, tmp_path, receiver):
    path = config_with_hook(tmp_path, f'[hooks.crm]\nurl = "{receiver.url}"\n')
    clean_env.setenv("IVR_HOOK_SECRET_CRM", SECRET)
    code, out, err = await asyncio.to_thread(run, "hooks", "test", "crm", "--config", path)
    assert (code, err) == (0, "")
    assert out == f"hooks.crm: HTTP 200 from {receiver.url}\n  ok\n"
    [request] = receiver.received
    assert hook_signing.verify(SECRET, request.headers, request.body, int(time.time()))
    jsonschema.validate(request.event, json.loads(SCHEMA_PATH.read_text("utf-8")))
    assert request.event["type"] == "conversation_opened" and request.event["body"] is None


async def test_hooks_test_fails_with_one_line_when_the_endpoint_refuses(
        clean_env, tmp_path, receiver):
    receiver.answer = lambda _: 500
    path = config_with_hook(tmp_path, f'[hooks.crm]\nurl = "{receiver.url}"\n'
                                      f'secret = "{SECRET}"\n')
    code, out, err = await asyncio.to_thread(run, "hooks", "test", "crm", "--config", path)
    assert code == 1 and out.startswith("hooks.crm: HTTP 500")
    assert err.count("\n") == 1 and "answered HTTP 500, not 2xx" in err


def test_hooks_test_fails_when_nothing_answers(clean_env, tmp_path):
    path = config_with_hook(tmp_path, '[hooks.crm]\nurl = "http://127.0.0.1:9/x"\n'
                                      f'secret = "{SECRET}"\n')
    code, out, err = run("hooks", "test", "crm", "--config", path)
    assert (code, out) == (1, "")
    assert err.startswith("ivr: hooks.crm: http://127.0.0.1:9/x did not answer:")
    assert err.count("\n") == 1


def test_hooks_list_and_an_unknown_name(clean_env, tmp_path):
    path = config_with_hook(tmp_path, '[hooks.crm]\nurl = "https://crm.example.com/ivr"\n'
                                      'events = ["closed", "paged"]\n')
    clean_env.setenv("IVR_HOOK_SECRET_CRM", SECRET)
    code, out, _ = run("hooks", "list", "--config", path)
    assert code == 0 and out == (
        "crm: https://crm.example.com/ivr\n  events: closed, paged; lines: all; customer "
        "numbers and texts: kept; signed with IVR_HOOK_SECRET_CRM\n")
    code, _, err = run("hooks", "test", "billing", "--config", path)
    assert code == 2 and err == f"ivr: {path}: no [hooks.billing]. Fix: use one of: crm\n"


def test_a_hook_without_a_secret_names_the_setting_to_set(clean_env, tmp_path):
    path = config_with_hook(tmp_path, '[hooks.crm-main]\nurl = "https://crm.example.com"\n')
    code, _, err = run("hooks", "list", "--config", path)
    assert code == 2 and err == (
        f"ivr: {path}: hooks.crm-main: no signing secret. Fix: set IVR_HOOK_SECRET_CRM_MAIN in "
        "the environment or env file (a long random string, shared with the receiver)\n")


def test_a_hook_secret_in_the_env_file_is_read(clean_env, tmp_path):
    env = tmp_path / "ivr.env"
    env.write_text(f"IVR_HOOK_SECRET_CRM={SECRET}\n", "utf-8")
    env.chmod(0o600)
    clean_env.setenv("IVR_ENV_FILE", str(env))
    path = config_with_hook(tmp_path, '[hooks.crm]\nurl = "https://crm.example.com"\n')
    code, out, _ = run("hooks", "list", "--config", path)
    assert code == 0 and "signed with IVR_HOOK_SECRET_CRM" in out


@pytest.mark.parametrize("table, key, fix", [
    ({"url": "ftp://x"}, "hooks.crm.url", 'write url = "https://'),
    ({"url": "https://x", "events": ["opened"]}, "hooks.crm.events", "use some of: acknowledged"),
    ({"url": "https://x", "lines": ["nope"]}, "hooks.crm.lines", "use some of: qdn"),
    ({"url": "https://x", "secret": "short"}, "hooks.crm.secret", "IVR_HOOK_SECRET_CRM"),
    ({"url": "https://x", "include_customer": "yes"}, "hooks.crm.include_customer",
     "write include_customer = false"),
    ({"url": "https://x", "max_attempts": 0}, "hooks.crm.max_attempts", "max_attempts = 20"),
    ({"url": "https://x", "timeout_seconds": 60}, "hooks.crm.timeout_seconds", "from 1 to 30"),
    ({"url": "https://x", "retries": 3}, "hooks.crm.retries", "remove it or use one of"),
])
def test_a_mistake_in_a_hook_names_its_key_and_fix(table, key, fix):
    data = tomllib.loads(EXAMPLE_CONFIG.read_text("utf-8"))
    data["hooks"] = {"crm": table}
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "ivr.toml")
    assert caught.value.key == key and fix in caught.value.fix


def test_the_readmes_verification_snippet_accepts_ivrs_signature_and_nothing_else():
    readme = (EXAMPLE_CONFIG.parent.parent / "README.md").read_text("utf-8")
    section = readme.split("## Event hooks", 1)[1].split("\n## ", 1)[0]
    [snippet] = re.findall(r"```python\n(.+?)\n```", section, re.S)
    namespace: dict = {}
    exec(snippet, namespace)
    verify = namespace["verify"]
    body = b'{"schema_version":1,"id":"ivr-evt-1"}'
    now = int(time.time())
    headers = hook_signing.signed_headers(SECRET, now, body)
    assert verify(SECRET, headers, body)
    assert not verify(SECRET, headers, body + b" ")
    assert not verify("another-secret-0123456789", headers, body)
    stale = hook_signing.signed_headers(SECRET, now - 301, body)
    assert not verify(SECRET, stale, body)
    assert hook_signing.verify(SECRET, headers, body, now)


def test_the_readmes_hook_table_is_a_valid_config():
    readme = (EXAMPLE_CONFIG.parent.parent / "README.md").read_text("utf-8")
    section = readme.split("## Event hooks", 1)[1].split("\n## ", 1)[0]
    [table] = re.findall(r"```toml\n(.+?)\n```", section, re.S)
    data = tomllib.loads(EXAMPLE_CONFIG.read_text("utf-8") + "\n" + table)
    [hook] = parse_config(data, "ivr.toml").hooks
    assert (hook.name, hook.lines, hook.include_customer, hook.secret) == (
        "crm", frozenset({"qdn"}), False, None)


def test_a_hook_secret_is_a_secret_kept_out_of_logs():
    secrets = load_secrets({"IVR_HOOK_SECRET_CRM": SECRET})
    assert secrets.hook_secrets == {"IVR_HOOK_SECRET_CRM": SECRET}
    assert SECRET in secrets.values() and SECRET not in repr(secrets)
