"""The real service as a process: what the tests that need SIGKILL, two
workers or a hanging Twilio start it with."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess

import aiohttp


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

