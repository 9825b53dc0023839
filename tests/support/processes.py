"""The real service as a process: what the tests that need SIGKILL, two
workers or a hanging Twilio start it with."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp

from .driver import sign
from .fake_twilio import ACCOUNT_SID, API_KEY, API_SECRET
from .harness import AUTH_TOKEN, EXAMPLE_CONFIG, LINE, REPO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_environ(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TWILIO_", "IVR_"))}
    env.update(extra)
    return env


async def wait_until_healthy(url: str, process: subprocess.Popen, seconds: float = 20) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(int(seconds * 10)):
            if process.poll() is not None:
                raise AssertionError(f"the server exited with {process.returncode}")
            try:
                async with session.get(url + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the server never became healthy")


async def wait_for(predicate, seconds: float = 10) -> None:
    for _ in range(int(seconds * 20)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out waiting")


def stop(process: subprocess.Popen) -> tuple[int, str, str]:
    process.send_signal(signal.SIGTERM)
    try:
        out, err = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"SIGTERM did not stop the server:\n{err}")
    return process.returncode, out, err


def start(tmp_path: Path, fake_url: str, port: int, workers: int,
          config: Path = EXAMPLE_CONFIG, stdout: int = subprocess.PIPE,
          **extra_env: str) -> subprocess.Popen:
    """The real run.py on loopback with a Twilio account pointed at `fake_url`."""
    env = clean_environ(**{"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                           "TWILIO_API_KEY": API_KEY, "TWILIO_API_SECRET": API_SECRET,
                           "TWILIO_API_BASE": fake_url,
                           "IVR_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
                           "IVR_DATABASE": str(tmp_path / "ivr.sqlite3"), **extra_env})
    return subprocess.Popen(
        [sys.executable, str(REPO / "run.py"), "--config", str(config), "--bind",
         f"127.0.0.1:{port}", "--workers", str(workers)], cwd=tmp_path, env=env,
        stdout=stdout, stderr=subprocess.PIPE, text=True, start_new_session=True)


def sms(message_sid: str, sender: str, body: str) -> dict[str, str]:
    return {"MessageSid": message_sid, "SmsSid": message_sid, "AccountSid": ACCOUNT_SID,
            "From": sender, "To": LINE, "Body": body, "NumMedia": "0",
            "SmsStatus": "received", "ApiVersion": "2010-04-01"}


async def post(session: aiohttp.ClientSession, url: str, params: dict[str, str]) -> tuple[int, str]:
    headers = {"X-Twilio-Signature": sign(AUTH_TOKEN, url, params)}
    async with session.post(url, data=params, headers=headers) as response:
        return response.status, await response.text()


def rows(db_path: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(db_path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()

