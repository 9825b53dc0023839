"""What every measurement shares: how many requests a load run sends, whether
this is a --quick run, which client drives the load, the run's temporary
directory, the servers it may start and the fake Twilio they all send to.
Measures nothing itself; `drive` is one load run with these settings."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from load_runs import LoadRun, run_load
from servers import Server, Servers, TwilioSink
from twilio_requests import Request


@dataclass
class Harness:
    requests_per_run: int
    quick: bool
    client: str
    patches: str
    tmp: Path
    servers: Servers
    sink: TwilioSink | None = None

    @classmethod
    def create(cls, *, requests: int, quick: bool, workers: int, client: str = "raw",
               patches: str = "") -> Harness:
        """Settings as run.py's options give them; `requests` 0 is the default."""
        tmp = Path(tempfile.mkdtemp(prefix="ivr-bench-"))
        return cls(requests or (300 if quick else 3000), quick, client, patches, tmp,
                   Servers(tmp, workers, patches))

    @property
    def fake_twilio(self) -> TwilioSink:
        """The fake Twilio, once started."""
        assert self.sink is not None, "start the fake Twilio first"
        return self.sink

    def start_sink(self) -> TwilioSink:
        self.sink = self.servers.start_sink()
        return self.sink

    def drive(self, server: Server, requests: list[Request], concurrency: int,
              **options: Any) -> LoadRun:
        """One load run with this run's client (options as `run_load`'s)."""
        return run_load(server, requests, concurrency, tmp=self.tmp, client=self.client,
                        **options)
