"""The ivr command: `serve` (what run.py does) and `simulate`.

Errors go to stderr with a non-zero exit and say what to do."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import xml.etree.ElementTree as ET
from typing import Sequence, TextIO
from urllib.parse import urlencode

import aiohttp
from twilio.request_validator import RequestValidator

from .local_twilio import LOCAL_ACCOUNT_SID
from .phone import InvalidPhoneNumber, normalise
from .server import (DEFAULT_BIND, ServeOptions, StartupError, config_path, load_everything,
                     local_state_path, serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ivr", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", help="serve the webhooks on Hypercorn")
    add_serve_arguments(serve_parser)

    simulate = commands.add_parser(
        "simulate", help="text a running service as Twilio would (signed webhooks)")
    simulate.add_argument("--config", help="TOML config (default: $IVR_CONFIG or ivr.toml)")
    simulate.add_argument("--url", help="the service's base URL (default: local mode's)")
    simulate.add_argument("--line", help="line id (default: the first line)")
    actions = simulate.add_subparsers(dest="action", required=True)
    text = actions.add_parser("text", help="send a text to the line")
    sender = text.add_mutually_exclusive_group(required=True)
    sender.add_argument("--from", dest="from_", metavar="NUMBER", help="a customer's number")
    sender.add_argument("--as", dest="as_", metavar="RESPONDER", help="a responder id")
    text.add_argument("--media", action="append", default=[], metavar="URL",
                      help="attach a media URL (MMS); repeatable")
    text.add_argument("body", help="what the text says")
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
            return asyncio.run(simulate_text(args, out))
    except StartupError as exc:
        err.write(f"ivr: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    return 2


async def simulate_text(args: argparse.Namespace, out: TextIO) -> int:
    path = config_path(args.config)
    config, secrets = load_everything(path)
    line = config.lines.get(args.line) if args.line else next(iter(config.lines.values()))
    if line is None:
        raise StartupError(f"--line {args.line!r} is not a line in {path}. "
                           f"Fix: use one of: {', '.join(config.lines)}")
    token, url = secrets.auth_token, args.url or secrets.public_base_url
    state = local_state_path(config)
    if state.exists():
        saved = json.loads(state.read_text("utf-8"))
        token = token or saved["auth_token"]
        url = url or saved["url"]
    if not token or not url:
        raise StartupError("no running local service found and no TWILIO_AUTH_TOKEN/"
                           "IVR_PUBLIC_BASE_URL set. Fix: start it with `python run.py "
                           f"--config {path}` first, or pass --url with TWILIO_AUTH_TOKEN set")
    if args.as_:
        if args.as_ not in config.responders:
            raise StartupError(f"--as {args.as_!r} is not a responder in {path}. "
                               f"Fix: use one of: {', '.join(config.responders)}")
        sender = config.responders[args.as_].phone
    else:
        try:
            sender = normalise(args.from_)
        except InvalidPhoneNumber as exc:
            raise StartupError(f"--from: {exc}. Fix: give an E.164 number like +16195550142")
    sid = "SM" + os.urandom(16).hex()
    params = [("MessageSid", sid), ("SmsSid", sid), ("SmsMessageSid", sid),
              ("AccountSid", secrets.account_sid or LOCAL_ACCOUNT_SID), ("From", sender),
              ("To", line.number), ("Body", args.body), ("NumMedia", str(len(args.media))),
              ("NumSegments", "1"), ("SmsStatus", "received"), ("ApiVersion", "2010-04-01")]
    for i, media_url in enumerate(args.media):
        params += [(f"MediaUrl{i}", media_url), (f"MediaContentType{i}", "image/jpeg")]
    webhook = url.rstrip("/") + "/sms/incoming"
    from werkzeug.datastructures import MultiDict
    signature = RequestValidator(token).compute_signature(webhook, MultiDict(params))
    headers = {"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1",
               "Content-Type": "application/x-www-form-urlencoded"}
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(webhook, data=urlencode(params), headers=headers) as response:
                status, body = response.status, await response.text()
    except aiohttp.ClientError as exc:
        raise StartupError(f"could not reach {webhook} ({exc}). Fix: is the service running?")
    if status != 200:
        raise StartupError(f"the service answered HTTP {status}: {body.strip()[:200]}")
    out.write(f"sent to {line.name} ({line.number}) as {sender}: {args.body}\n")
    replies = [m.text or "" for m in ET.fromstring(body).iter("Message")]
    for reply in replies:
        out.write(f"reply from the line: {reply}\n")
    if not replies:
        out.write("(the line sent no reply)\n")
    return 0
