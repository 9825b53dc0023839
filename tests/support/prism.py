"""Prism, Stoplight's OpenAPI mock, serving Twilio's own OpenAPI description
on loopback, and a recording proxy in front of it.

The contract tests point the real twilio-python client (through the real
gateway) at the proxy, the proxy forwards every request unchanged to Prism,
and Prism checks it against `shared/twilio-oai/twilio_api_v2010.json`.
The proxy keeps what was sent (the form, the query) and what Prism said
(status, `sl-violations`), so the tests can assert on both and run the
either/or rules of `twilio_rules` that the description leaves out.

Prism is installed from the lockfile in tools/prism (see INSTALL_COMMAND).
Without it the `prism` fixture skips, except under CI (the CI variable set),
where it fails: a contract check that silently does not run is no check.

What Prism 5.14.2 does, seen here (the tests in test_contract.py hold it):
- a request that breaks the description (a required field missing, an enum,
  a `format: uri`, a SID pattern, a PageSize over 1000) gets 422 with a JSON
  problem listing the violations, with or without `--errors`;
- `--errors` additionally turns violations found in Prism's own *response*
  into a 500. Twilio's examples for IncomingPhoneNumbers break their own
  response schema (empty-string SIDs, relative `uri`s), so with `--errors`
  every IncomingPhoneNumbers list and update answers 500. We run without it
  and read the `sl-violations` header instead, where Prism lists every
  violation, request or response, of an answered request;
- it keeps only the last of repeated form keys, and an array property is
  parsed as an array only when the description has an `encoding` object for
  it (stoplightio/prism#2473). Twilio's description has none, so an MMS with
  `MediaUrl` repeated, as twilio-python and Twilio's docs send it, gets 422
  "must be array". `spec_for_prism` writes a copy of the description that
  spells out OpenAPI 3.0's default for those properties (`style: form,
  explode: true`, i.e. repeated keys) and changes nothing else; Prism then
  accepts the MMS but still checks only the last MediaUrl, so
  `twilio_rules` checks all of them.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs

import pytest
from aiohttp import ClientSession, ClientTimeout, web

from ivr.local_twilio import serve

REPO = Path(__file__).resolve().parents[2]
PRISM_DIR = REPO / "tools" / "prism"
PRISM_BIN = PRISM_DIR / "node_modules" / ".bin" / "prism"
SPEC = REPO.parent / "shared" / "twilio-oai" / "twilio_api_v2010.json"
INSTALL_COMMAND = "npm ci --prefix tools/prism --no-audit --no-fund"
STARTUP_TIMEOUT_SECONDS = 60
FORM = "application/x-www-form-urlencoded"


def unavailable(reason: str) -> None:
    """Skip on a developer's machine; fail under CI, where skipping would hide
    that the contract was never checked."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


def require_prism() -> None:
    if not SPEC.is_file():
        unavailable(f"Twilio's OpenAPI description is missing at {SPEC}: "
                    "shared/ must sit beside the repository")
    if not PRISM_BIN.exists():
        unavailable(f"Prism is not installed. Fix: run `{INSTALL_COMMAND}` "
                    "in the repository (Node >= 18.20.1 and npm needed)")
    if shutil.which("node") is None:
        unavailable("Prism is installed but `node` is not on PATH. Fix: install Node >= 18.20.1")


# -- the description, as Prism needs it ------------------------------------------

def with_explicit_array_encoding(spec: dict[str, Any]) -> list[str]:
    """Give every array property of a form-encoded request body an explicit
    `encoding` of `style: form, explode: true`: OpenAPI 3.0's default for
    such a body, which Prism applies only when it is written out. Changes
    `spec` in place and returns what it changed, as 'METHOD path: names'."""
    changed = []
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "requestBody" not in operation:
                continue
            media = operation["requestBody"].get("content", {}).get(FORM)
            if media is None:
                continue
            properties = media.get("schema", {}).get("properties", {})
            arrays = [name for name, schema in properties.items()
                      if isinstance(schema, dict) and schema.get("type") == "array"]
            if not arrays:
                continue
            encoding = media.setdefault("encoding", {})
            added = [name for name in arrays if name not in encoding]
            for name in added:
                encoding[name] = {"style": "form", "explode": True}
            if added:
                changed.append(f"{method.upper()} {path}: {', '.join(added)}")
    return changed


def spec_for_prism(directory: Path, source: Path = SPEC) -> Path:
    """A copy of Twilio's description in `directory` that Prism reads as
    OpenAPI means it (see the module docstring); the original is untouched."""
    spec = json.loads(source.read_text("utf-8"))
    original = copy.deepcopy(spec)
    changed = with_explicit_array_encoding(spec)
    assert changed, "no array property found in a form body: has the description changed?"
    assert strip_encodings(spec) == original
    target = directory / f"{source.stem}.prism.json"
    target.write_text(json.dumps(spec), "utf-8")
    return target


def strip_encodings(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` without the form bodies' `encoding` objects (to compare)."""
    spec = copy.deepcopy(spec)
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                operation["requestBody"].get("content", {}).get(FORM, {}).pop("encoding", None)
    return spec


# -- the Prism process ---------------------------------------------------------------

@dataclass
class PrismServer:
    url: str
    spec: Path
    log_path: Path
    startup_seconds: float
    process: subprocess.Popen

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # Prism's 404 "no path matched": it is up
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    # Prism runs in its own session (start_new_session): signal that group,
    # which is this process and any child it made, and nothing else.
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def start_prism(spec: Path, log_dir: Path, *, errors: bool = False,
                timeout: float = STARTUP_TIMEOUT_SECONDS) -> PrismServer:
    """Start `prism mock` on 127.0.0.1 and a free port; return once it answers."""
    require_prism()
    last_failure = ""
    for attempt in range(3):  # a free port can be taken between the probe and Prism's bind
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log_path = log_dir / f"prism-{port}.log"
        command = [str(PRISM_BIN), "mock", "--host", "127.0.0.1", "--port", str(port)]
        if errors:
            command.append("--errors")
        command.append(str(spec))
        started = time.monotonic()
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, cwd=REPO,
                                       start_new_session=True)
        server = PrismServer(url, spec, log_path, 0.0, process)
        while time.monotonic() - started < timeout:
            if process.poll() is not None:
                break
            if _answers(url):
                server.startup_seconds = time.monotonic() - started
                return server
            time.sleep(0.1)
        _stop(process)
        last_failure = (f"Prism did not answer on {url} within {timeout:.0f} s "
                        f"(exit code {process.returncode}):\n{server.log_tail()}")
    pytest.fail(last_failure, pytrace=False)


@pytest.fixture(scope="session")
def prism() -> Iterator[PrismServer]:
    """Prism mocking Twilio's API (the description made explicit for Prism,
    see `spec_for_prism`), for the whole session; killed at the end."""
    require_prism()
    with tempfile.TemporaryDirectory(prefix="ivr-prism-") as directory:
        server = start_prism(spec_for_prism(Path(directory)), Path(directory))
        try:
            yield server
        finally:
            _stop(server.process)


# -- the recording proxy --------------------------------------------------------------

@dataclass
class Exchange:
    """One request the client made and what Prism answered."""
    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    raw_body: str
    content_type: str
    status: int
    violations: list[dict[str, Any]]
    response: Any

    @property
    def request_violations(self) -> list[str]:
        """Prism's findings about the request (422 problem or sl-violations)."""
        found = []
        if isinstance(self.response, dict) and self.status == 422:
            found += [v.get("message", str(v)) for v in self.response.get("validation", [])]
        found += [v.get("message", str(v)) for v in self.violations
                  if (v.get("location") or [""])[0] != "response"]
        return found

    @property
    def response_violations(self) -> list[str]:
        """Where Prism's answer (Twilio's example) breaks Twilio's own schema."""
        return [v.get("message", str(v)) for v in self.violations
                if (v.get("location") or [""])[0] == "response"]


def _multi(text: str) -> dict[str, list[str]]:
    return parse_qs(text, keep_blank_values=True) if text else {}


@dataclass
class RecordingProxy:
    """Forwards every request byte for byte to `upstream` and records it."""
    upstream: str
    exchanges: list[Exchange] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None
    _session: ClientSession | None = None

    async def start(self) -> "RecordingProxy":
        self._session = ClientSession(timeout=ClientTimeout(total=30), auto_decompress=True)
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner, self.url = await serve(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        raw = await request.read()
        headers = {name: value for name, value in request.headers.items()
                   if name.lower() in ("authorization", "content-type", "accept",
                                       "user-agent", "accept-charset", "prefer")}
        async with self._session.request(request.method, self.upstream + request.path_qs,
                                         data=raw or None, headers=headers,
                                         allow_redirects=False) as answer:
            body = await answer.read()
            content_type = answer.headers.get("Content-Type", "application/json")
            violations_header = answer.headers.get("sl-violations")
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = body.decode("utf-8", "replace")
        violations = json.loads(violations_header) if violations_header else []
        text = raw.decode("utf-8", "replace")
        self.exchanges.append(Exchange(
            method=request.method, path=request.path, query=_multi(request.query_string),
            form=_multi(text) if request.content_type == FORM else {}, raw_body=text,
            content_type=request.content_type, status=answer.status,
            violations=violations, response=parsed))
        return web.Response(status=answer.status, body=body,
                             headers={"Content-Type": content_type})

    def to(self, method: str, path_suffix: str) -> list[Exchange]:
        return [e for e in self.exchanges
                if e.method == method and e.path.endswith(path_suffix)]

    def only(self, method: str, path_suffix: str) -> Exchange:
        found = self.to(method, path_suffix)
        assert len(found) == 1, (f"expected one {method} …{path_suffix}, got "
                                 f"{[(e.method, e.path) for e in self.exchanges]}")
        return found[0]
