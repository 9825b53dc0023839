"""The ivr command: `serve` (what run.py does) and `simulate`.

Errors go to stderr with a non-zero exit and say what to do."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Sequence, TextIO

from . import simulate
from .server import (DEFAULT_BIND, ServeOptions, StartupError, config_path, load_everything,
                     serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ivr", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", help="serve the webhooks on Hypercorn")
    add_serve_arguments(serve_parser)

    simulator = commands.add_parser(
        "simulate", help="text or call a running service as Twilio would (signed webhooks)")
    simulator.add_argument("--config", help="TOML config (default: $IVR_CONFIG or ivr.toml)")
    simulator.add_argument("--url", help="the service's base URL (default: local mode's)")
    simulator.add_argument("--line", help="line id (default: the first line)")
    actions = simulator.add_subparsers(dest="action", required=True)
    text = actions.add_parser("text", help="send a text to the line")
    sender = text.add_mutually_exclusive_group(required=True)
    sender.add_argument("--from", dest="from_", metavar="NUMBER", help="a customer's number")
    sender.add_argument("--as", dest="as_", metavar="RESPONDER", help="a responder id")
    text.add_argument("--media", action="append", default=[], metavar="URL",
                      help="attach a media URL (MMS); repeatable")
    text.add_argument("body", help="what the text says")
    call = actions.add_parser("call", help="call the line and follow what it does")
    call.add_argument("--from", dest="from_", metavar="NUMBER", required=True,
                      help="the caller's number")
    call.add_argument("--press", action="append", default=[], metavar="KEYS",
                      help="keys for each menu, in order; repeatable")
    call.add_argument("--answer", metavar="RESPONDER",
                      help="the responder who answers and presses 1 (default: nobody)")
    call.add_argument("--message", help="the voicemail the caller leaves (default: none)")
    return parser


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML config (default: $IVR_CONFIG or ivr.toml)")
    parser.add_argument("--bind", help=f"HOST:PORT (default: $IVR_BIND or {DEFAULT_BIND})")
    parser.add_argument("--workers", type=int, default=1, help="Hypercorn worker processes")


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout,
         err: TextIO = sys.stderr) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return serve(ServeOptions(args.config, args.bind, args.workers), out)
        if args.command == "simulate":
            return asyncio.run(run_simulation(args, out))
    except StartupError as exc:
        err.write(f"ivr: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    return 2


async def run_simulation(args: argparse.Namespace, out: TextIO) -> int:
    path = config_path(args.config)
    config, secrets = load_everything(path)
    line = simulate.pick_line(config, args.line, path)
    target = simulate.find_target(config, secrets, args.url, path)
    if args.action == "text":
        sender = simulate.sender_number(config, args.as_, args.from_, path)
        return await simulate.text(config, target, line, sender, args.body, args.media, out)
    caller = simulate.sender_number(config, None, args.from_, path)
    if args.answer and args.answer not in config.responders:
        raise StartupError(f"--answer {args.answer!r} is not a responder in {path}. "
                           f"Fix: use one of: {', '.join(config.responders)}")
    script = simulate.CallScript(keys=args.press, answer=args.answer, message=args.message)
    return await simulate.call(config, target, line, caller, script, out)
