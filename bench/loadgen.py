"""The load generator: one process, apart from the servers, that sends a
prepared list of requests over N keep-alive connections and times each.

    python bench/loadgen.py SPEC.json OUT.json

Two clients: "raw" (asyncio protocol, hand-parsed HTTP/1.1: the default,
because it costs far less CPU per request than aiohttp's client, and on a
2-core machine every client cycle is taken from the servers) and "aiohttp"
(a ClientSession limited to N connections), kept to show the difference.

SPEC: {"port", "ports" (several instances: the connections are spread
over them, as a load balancer would; "port" stays the Host header), "concurrency", "client", "requests": [[method, target, body,
[[header, value], ...]], ...], "keep_body": bool, "abort_every": K (every
K-th request goes on its own connection, which is closed right after the
request was written, after a random 0-abort_delay_ms pause), "pace_ms": a
pause before each request on each connection (0: closed loop), "time_limit"}.
OUT: {"elapsed", "client_cpu", "results": [[sent unix time, latency ms,
status, error, body], ...]} in the order of the requests; status 0 with an
error when no response came, "aborted" for a deliberate disconnect.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import sys
import time
from typing import Any

HOST = "127.0.0.1"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class HttpError(Exception):
    pass


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one request in flight at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._try_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(HttpError(f"connection lost: {exc or 'closed by server'}"))

    def request(self, payload: bytes) -> asyncio.Future:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return self.waiter

    def _try_complete(self) -> None:
        if self.waiter is None or self.waiter.done():
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        try:
            status = int(head[0].split()[1])
        except (IndexError, ValueError):
            self.waiter.set_exception(HttpError(f"bad status line {head[0]!r}"))
            return
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        if "content-length" in headers:
            total = start + int(headers["content-length"])
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[start:total])
            del self.buffer[:total]
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parsed = _dechunk(self.buffer, start)
            if parsed is None:
                return
            body, consumed = parsed
            del self.buffer[:consumed]
        else:
            self.waiter.set_exception(HttpError("response without a length"))
            return
        keep = headers.get("connection", "").lower() != "close"
        self.waiter.set_result((status, body, keep))


def _dechunk(buffer: bytearray, pos: int) -> tuple[bytes, int] | None:
    body = bytearray()
    while True:
        line_end = buffer.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(bytes(buffer[pos:line_end]).split(b";")[0], 16)
        pos = line_end + 2
        if size == 0:
            trailer_end = buffer.find(b"\r\n", pos)
            if trailer_end < 0:
                return None
            return bytes(body), trailer_end + 2
        if len(buffer) < pos + size + 2:
            return None
        body += buffer[pos:pos + size]
        pos += size + 2


def encode(port: int, method: str, target: str, body: str,
           headers: list[list[str]], close: bool = False) -> bytes:
    data = body.encode()
    lines = [f"{method} {target} HTTP/1.1", f"Host: {HOST}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Length: {len(data)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data


# run_raw is one function of 66 lines on purpose: the worker loop below is the
# client's per-request path, whose CPU is a reported figure
# (client_cpu_s_per_1000, compared with earlier runs in bench/README.md), and
# its state lives in closures. Split into methods it would cost attribute
# look-ups per request and no longer be the client those runs measured.
async def run_raw(spec: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    port, requests = spec["port"], spec["requests"]
    abort_every = int(spec.get("abort_every") or 0)
    abort_delay = float(spec.get("abort_delay_ms", 3)) / 1000
    pace = float(spec.get("pace_ms", 0)) / 1000
    keep_body = bool(spec.get("keep_body"))
    payloads = [encode(port, *r) for r in requests]
    results: list[Any] = [None] * len(requests)
    rng = random.Random(8)
    next_index = 0

    # Several instances behind one load balancer: connection i goes to
    # ports[i % len(ports)] (and comes back there when it reconnects).
    ports = spec.get("ports") or [port]

    async def connect(slot: int = 0) -> Connection:
        _, protocol = await loop.create_connection(Connection, HOST, ports[slot % len(ports)])
        return protocol  # type: ignore[return-value]

    connections = [await connect(i) for i in range(spec["concurrency"])]
    deadline = time.perf_counter() + float(spec.get("time_limit", 120))

    async def abandon(payload: bytes) -> None:
        conn = await connect()
        assert conn.transport is not None
        conn.transport.write(payload)
        await asyncio.sleep(rng.random() * abort_delay)
        conn.transport.close()

    async def worker(slot: int) -> None:
        nonlocal next_index
        conn = connections[slot]
        while next_index < len(requests) and time.perf_counter() < deadline:
            index = next_index
            next_index += 1
            if pace:
                await asyncio.sleep(pace)
            sent = time.time()
            if abort_every and index % abort_every == abort_every - 1:
                try:
                    await abandon(payloads[index])
                    results[index] = [sent, None, "aborted", None, None]
                except OSError as exc:
                    results[index] = [sent, None, 0, f"abort failed: {exc}", None]
                continue
            started = time.perf_counter()
            try:
                if conn.closed:
                    conn = await connect(slot)
                status, body, keep = await asyncio.wait_for(conn.request(payloads[index]), 30)
                latency = (time.perf_counter() - started) * 1000
                results[index] = [sent, latency, status, None,
                                  body.decode("utf-8", "replace") if keep_body else None]
                if not keep:
                    conn.transport.close()  # type: ignore[union-attr]
                    conn = await connect(slot)
            except (HttpError, OSError, asyncio.TimeoutError) as exc:
                latency = (time.perf_counter() - started) * 1000
                results[index] = [sent, latency, 0, f"{type(exc).__name__}: {exc}", None]
                if conn.transport is not None:
                    conn.transport.abort()
                conn = await connect(slot)
        if conn.transport is not None:
            conn.transport.close()

    cpu, started = _cpu(), time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(len(connections))))
    return {"elapsed": time.perf_counter() - started, "client_cpu": _cpu() - cpu,
            "results": results}


async def run_aiohttp(spec: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    port, requests = spec["port"], spec["requests"]
    keep_body = bool(spec.get("keep_body"))
    results: list[Any] = [None] * len(requests)
    next_index = 0
    connector = aiohttp.TCPConnector(limit=spec["concurrency"], force_close=False)
    deadline = time.perf_counter() + float(spec.get("time_limit", 120))
    async with aiohttp.ClientSession(connector=connector) as session:
        # open the connections before the clock starts, as the raw client does
        await asyncio.gather(*(session.get(f"http://{HOST}:{port}/healthz")
                               for _ in range(spec["concurrency"])), return_exceptions=True)

        async def worker() -> None:
            nonlocal next_index
            while next_index < len(requests) and time.perf_counter() < deadline:
                index = next_index
                next_index += 1
                method, target, body, headers = requests[index]
                sent, started = time.time(), time.perf_counter()
                try:
                    async with session.request(method, f"http://{HOST}:{port}{target}",
                                               data=body.encode(), headers=dict(headers)) as resp:
                        text = await resp.text()
                        latency = (time.perf_counter() - started) * 1000
                        results[index] = [sent, latency, resp.status, None,
                                          text if keep_body else None]
                except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                    latency = (time.perf_counter() - started) * 1000
                    results[index] = [sent, latency, 0, f"{type(exc).__name__}: {exc}", None]

        cpu, started = _cpu(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))
        return {"elapsed": time.perf_counter() - started, "client_cpu": _cpu() - cpu,
                "results": results}


def main() -> None:
    spec_path, out_path = sys.argv[1], sys.argv[2]
    with open(spec_path) as handle:
        spec = json.load(handle)
    runner = run_aiohttp if spec.get("client") == "aiohttp" else run_raw
    out = asyncio.run(runner(spec))
    with open(out_path, "w") as handle:
        json.dump(out, handle)


if __name__ == "__main__":
    main()
