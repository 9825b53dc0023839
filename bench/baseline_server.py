"""Serve bench/baseline_app.py (or --app quart_floor:app) on Hypercorn with
the settings ivr/server.py uses for the service: the same worker count, no
access log, and the same event loop (uvloop where it is installed, as
ivr.server chooses; otherwise asyncio).

    python bench/baseline_server.py --bind 127.0.0.1:PORT --workers 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # spawned workers inherit it

from hypercorn.config import Config  # noqa: E402
from hypercorn.run import run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bind", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--app", default="baseline_app:app",
                        help="module:attribute in bench/ (quart_floor:app for the Quart floor)")
    args = parser.parse_args()
    config = Config()
    config.bind = [args.bind]
    config.application_path = args.app
    config.workers = 0 if args.workers == 1 else args.workers
    config.accesslog = None
    config.graceful_timeout = 10
    try:
        import uvloop  # noqa: F401
    except ImportError:
        pass
    else:
        config.worker_class = "uvloop"
    return run(config)


if __name__ == "__main__":
    sys.exit(main())
