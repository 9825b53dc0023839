"""deploy/: the Dockerfile, the compose files, the systemd unit and the Caddy
front. The cheap checks always run: every file they copy or mount exists
and the command each runs is a real `ivr` command. Building and running the
image needs a Docker engine and is skipped, saying so, without one."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from ivr.cli import build_parser

from .support.harness import EXAMPLE_CONFIG, REPO
from .support.processes import clean_environ, free_port, stop, wait_until_healthy

DEPLOY = REPO / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", path.read_text())
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def exec_form(argument: str) -> list[str]:
    return json.loads(argument) if argument.startswith("[") else shlex.split(argument)


def is_ivr_command(argv: list[str], subcommand: str) -> None:
    """argv is `ivr …` (or its full path) and ivr's own parser accepts it."""
    assert Path(argv[0]).name == "ivr", argv
    assert build_parser().parse_args(argv[1:]).command == subcommand


def final_stage(path: Path) -> list[tuple[str, str]]:
    found = instructions(path)
    last_from = max(i for i, (word, _) in enumerate(found) if word == "FROM")
    return found[last_from:]


def test_the_image_runs_ivr_serve_as_a_user_with_a_health_check():
    stage = final_stage(DOCKERFILE)
    assert stage[0] == ("FROM", "python:3.11-slim")
    [entrypoint] = [exec_form(a) for w, a in stage if w == "ENTRYPOINT"]
    [command] = [exec_form(a) for w, a in stage if w == "CMD"]
    is_ivr_command(entrypoint + command, "serve")
    [user] = [a for w, a in stage if w == "USER"]
    assert user not in ("root", "0")
    [health] = [a for w, a in stage if w == "HEALTHCHECK"]
    assert "/healthz" in health
    [volume] = [exec_form(a) for w, a in stage if w == "VOLUME"]
    env = " ".join(a for w, a in stage if w == "ENV")
    database = re.search(r"IVR_DATABASE=(\S+)", env).group(1)
    assert any(Path(database).is_relative_to(v) for v in volume)
    assert "IVR_CONFIG=/etc/ivr/ivr.toml" in env


def test_everything_the_build_copies_exists_and_is_in_the_context():
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = [a.split()[:-1] for w, a in instructions(DOCKERFILE)
              if w == "COPY" and not a.startswith("--from")]
    for sources in copied:
        for source in sources:
            assert (REPO / source).exists(), source
            assert source in kept, f"{source} is left out of the build context"


def compose(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


@pytest.mark.parametrize("name, instances", [("compose.yaml", ["ivr"]),
                                             ("compose.postgres.yaml", ["ivr-a", "ivr-b"])])
def test_compose_files_run_ivr_serve_from_this_image(name, instances):
    services = compose(name)["services"]
    assert sorted(s for s in services if s != "db") == instances
    for service in (services[s] for s in instances):
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).resolve(
            ) == DOCKERFILE
        is_ivr_command(["ivr", *service["command"]], "serve")
        assert service["env_file"] == "./ivr.env"
        assert "./ivr.toml:/etc/ivr/ivr.toml:ro" in service["volumes"]
        assert "IVR_PUBLIC_BASE_URL" in service["environment"]
        assert all(p.startswith("127.0.0.1:") for p in service["ports"])


def test_the_postgresql_instances_share_one_database():
    services = compose("compose.postgres.yaml")["services"]
    urls = {services[s]["environment"]["IVR_DATABASE"] for s in ("ivr-a", "ivr-b")}
    assert len(urls) == 1 and urls.pop().startswith("postgresql://ivr:")
    assert services["ivr-a"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["ivr-a"]["ports"] != services["ivr-b"]["ports"]


def unit() -> dict[str, list[str]]:
    """systemd's format: a key may repeat, so each maps to its values."""
    keys: dict[str, list[str]] = {}
    for line in (DEPLOY / "ivr.service").read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            keys.setdefault(key.strip(), []).append(value.strip())
    return keys


def test_the_systemd_unit_runs_ivr_serve_hardened_with_its_secrets_in_a_file():
    keys = unit()
    is_ivr_command(shlex.split(keys["ExecStart"][0]), "serve")
    assert keys["EnvironmentFile"] == ["/etc/ivr/ivr.env"]
    assert keys["User"] != ["root"]
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("ProtectHome", "yes"), ("PrivateTmp", "yes"), ("UMask", "0077"),
                       ("CapabilityBoundingSet", "")):
        assert keys[key] == [value], key
    env = dict(v.partition("=")[::2] for v in keys["Environment"])
    assert env["IVR_DATABASE"].startswith("/var/lib/" + keys["StateDirectory"][0] + "/")


def test_caddy_proxies_to_where_the_unit_and_compose_listen():
    caddy = (DEPLOY / "Caddyfile").read_text()
    [upstream] = re.findall(r"^\s*reverse_proxy (\S+)$", caddy, re.M)
    env = dict(v.partition("=")[::2] for v in unit()["Environment"])
    assert upstream == env["IVR_BIND"]
    assert compose("compose.yaml")["services"]["ivr"]["ports"] == [f"{upstream}:8080"]


# -- with a Docker engine -----------------------------------------------------------------

def docker_engine() -> str | None:
    """Why Docker cannot be used here, or None."""
    if shutil.which("docker") is None:
        return "no docker command"
    info = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                          capture_output=True, text=True, timeout=60)
    if info.returncode != 0:
        return "the docker command reaches no engine: " + " ".join(info.stderr.split())[:160]
    return None


@pytest.fixture(scope="module")
def image():
    missing = docker_engine()
    if missing:
        pytest.skip(f"Docker image not built or run: {missing}")
    tag = "ivr-test:latest"
    built = subprocess.run(["docker", "build", "-f", str(DOCKERFILE), "-t", tag, str(REPO)],
                           capture_output=True, text=True, timeout=1800)
    assert built.returncode == 0, built.stderr[-3000:]
    return tag


def test_the_image_serves_healthz_as_a_non_root_user(image, tmp_path):
    port = free_port()
    config = tmp_path / "ivr.toml"
    shutil.copy(EXAMPLE_CONFIG, config)
    config.chmod(0o644)
    name = f"ivr-test-{port}"
    started = subprocess.run(
        ["docker", "run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{port}:8080",
         "-v", f"{config}:/etc/ivr/ivr.toml:ro", image],
        capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    try:
        status = None
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    status = r.status
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        assert status == 200
        user = subprocess.run(["docker", "exec", name, "id", "-u"], capture_output=True,
                              text=True, timeout=60).stdout.strip()
        assert user not in ("", "0")
    finally:
        subprocess.run(["docker", "stop", "-t", "20", name], capture_output=True, timeout=120)


def test_the_files_compose_reads_beside_it_never_reach_a_commit():
    """deploy/ivr.env holds the secrets; `git add .` after following the
    README's compose steps must not pick it (or the line's config) up."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout")
    for name in ("deploy/ivr.env", "deploy/ivr.toml"):
        ignored = subprocess.run(["git", "check-ignore", "--no-index", "--quiet", name],
                                 cwd=REPO, capture_output=True)
        assert ignored.returncode == 0, name


def test_systemd_accepts_the_unit_and_rates_it_well_hardened(tmp_path):
    """systemd's own reading of the unit, where systemd-analyze exists: no
    key it ignores, and an exposure it calls OK (lower is better; 10 is a
    unit with no hardening at all)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("no systemd-analyze on this machine")
    ivr = Path(sys.executable).with_name("ivr")   # the unit's /opt/ivr/bin/ivr, here
    unit_file = tmp_path / "ivr.service"
    unit_file.write_text((DEPLOY / "ivr.service").read_text().replace("/opt/ivr/bin/ivr",
                                                                      str(ivr)))
    verified = subprocess.run(["systemd-analyze", "verify", str(unit_file)],
                              capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0 and verified.stderr.strip() == "", verified.stderr
    rated = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit_file)],
                           capture_output=True, text=True, timeout=120)
    exposure = re.search(r"Overall exposure level for ivr.service: ([\d.]+)", rated.stdout)
    assert exposure and float(exposure.group(1)) <= 2.0, rated.stdout[-500:]


def health_check_command() -> list[str]:
    [health] = [a for w, a in final_stage(DOCKERFILE) if w == "HEALTHCHECK"]
    return exec_form(health.split(" CMD ", 1)[1].strip())


async def test_the_images_health_check_passes_on_a_serving_ivr_and_fails_without_one(tmp_path):
    """The HEALTHCHECK's own command, run here against the real service (the
    image's `python` is this interpreter), then against a port nobody serves."""
    command = [sys.executable if health_check_command()[0] == "python" else "false",
               *health_check_command()[1:]]
    port = free_port()
    process = subprocess.Popen([sys.executable, str(REPO / "run.py"), "--config",
                                str(EXAMPLE_CONFIG), "--bind", f"127.0.0.1:{port}"],
                               cwd=tmp_path, env=clean_environ(
                                   IVR_DATABASE=str(tmp_path / "ivr.sqlite3")),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        await wait_until_healthy(f"http://127.0.0.1:{port}", process)
        healthy = subprocess.run(command, env=clean_environ(IVR_BIND=f"0.0.0.0:{port}"),
                                 capture_output=True, timeout=60)
        assert healthy.returncode == 0, healthy.stderr
    finally:
        stop(process)
    nobody = subprocess.run(command, env=clean_environ(IVR_BIND=f"0.0.0.0:{free_port()}"),
                            capture_output=True, timeout=60)
    assert nobody.returncode != 0
