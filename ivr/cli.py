"""The ivr command: init, serve, check, log, conversations, block / unblock /
blocked, backup, db status / upgrade, simulate, reset-local, hooks list / test,
twilio configure, hash-password and user. Errors go to stderr with a non-zero
exit and say what to do."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Sequence, TextIO

from . import (__version__, admin, blocked_numbers, schema_command, simulate,
               simulate_phone_page, users_command)
from .backup import backup
from .check import check
from .hooks import command as hook_commands
from .init_config import Answers, init
from .local_reset import reset_local
from .server import DEFAULT_BIND, ServeOptions, config_path, load_everything, serve
from .startup_checks import StartupError


CONFIG_HELP = "TOML config (default: $IVR_CONFIG or ivr.toml)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ivr", description=__doc__)
    parser.add_argument("--version", action="version", version=f"ivr {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_init(commands)
    add_serve_arguments(commands.add_parser("serve", help="serve the webhooks on Hypercorn"))
    check = commands.add_parser("check", help="validate the config and secrets, print the "
                                              "webhook URLs for the Twilio console")
    check.add_argument("--config", help=CONFIG_HELP)
    _add_log(commands)
    conversations = commands.add_parser("conversations",
                                        help="open conversations, who owns each, how long "
                                             "they have waited")
    conversations.add_argument("--config", help=CONFIG_HELP)
    _add_blocks(commands)
    _add_backup(commands)
    _add_twilio(commands)
    _add_db(commands)
    commands.add_parser("hash-password", help="hash an operator password for "
                                              "IVR_OPERATOR_PASSWORD_HASH (reads stdin)")
    _add_simulate(commands)
    users_command.add_parser(commands, CONFIG_HELP)
    _add_hooks(commands)
    commands.add_parser("reset-local", help="local mode only: start from an empty database "
                                            "(the old one is kept beside it)"
                        ).add_argument("--config", help=CONFIG_HELP)
    return parser


def _add_hooks(commands: argparse._SubParsersAction) -> None:
    hooks = commands.add_parser("hooks", help="the event hooks: list them, or send one a "
                                              "signed sample event")
    actions = hooks.add_subparsers(dest="hooks_action", required=True)
    actions.add_parser("list", help="each [hooks.NAME]: URL, events, lines, secret") \
        .add_argument("--config", help=CONFIG_HELP)
    test = actions.add_parser("test", help="POST a signed sample event to hook NAME and "
                                           "print the endpoint's answer")
    test.add_argument("name", metavar="NAME", help="the hook, as in [hooks.NAME]")
    test.add_argument("--config", help=CONFIG_HELP)


def _add_init(commands: argparse._SubParsersAction) -> None:
    init = commands.add_parser("init", help="write a starter config (asks for what the flags "
                                            "leave out, on a terminal); never replaces a file")
    init.add_argument("path", nargs="?", default="ivr.toml", help="where (default: ivr.toml)")
    init.add_argument("--line-name", default="", help="the line's name, e.g. 'Quick Dump Now'")
    init.add_argument("--line-number", default="", help="the line's Twilio number, "
                                                        "e.g. +16195550100")
    init.add_argument("--responder", action="append", default=[], metavar="NAME=PHONE",
                      help="a responder; repeatable, in tier order")
    init.add_argument("--tier", action="append", default=[], metavar="ID[,ID...]",
                      help="a tier of responder ids rung together; repeatable, in order "
                           "(default: each responder a tier of their own)")
    init.add_argument("--timezone", default="", help="IANA zone (default: UTC)")
    init.add_argument("--database", default="ivr.sqlite3",
                      help="the SQLite file, relative to the config's folder (default: "
                           "ivr.sqlite3), or a PostgreSQL URL")


def _add_log(commands: argparse._SubParsersAction) -> None:
    log = commands.add_parser("log", help="recent routing decisions")
    log.add_argument("--config", help=CONFIG_HELP)
    log.add_argument("--line", help="only this line id")
    log.add_argument("--number", help="only what concerns this phone number")
    log.add_argument("--conversation", type=int, metavar="CODE",
                     help="only conversation #CODE (the latest with that code)")
    log.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    log.add_argument("--follow", "-f", action="store_true", help="keep printing new ones")


def _add_blocks(commands: argparse._SubParsersAction) -> None:
    block = commands.add_parser("block", help="block a number: its texts go nowhere, its "
                                              "calls are rejected")
    unblock = commands.add_parser("unblock", help="lift a block made by BLOCK, the dashboard "
                                                  "or `ivr block`")
    for parser in (block, unblock):
        parser.add_argument("number", metavar="NUMBER", help="the phone number, like "
                                                            "+16195550142")
        parser.add_argument("--config", help=CONFIG_HELP)
        parser.add_argument("--line", metavar="ID", help="only on this line id (default: "
                                                         "every line)")
    block.add_argument("--reason", default="", metavar="TEXT", help="why, for the log")
    commands.add_parser("blocked", help="the blocked numbers, the config's and the "
                                        "store's").add_argument("--config", help=CONFIG_HELP)


def _add_backup(commands: argparse._SubParsersAction) -> None:
    saved = commands.add_parser("backup", help="copy the SQLite database to PATH, consistently, "
                                               "while the service runs")
    saved.add_argument("path", metavar="PATH", help="the file to write")
    saved.add_argument("--config", help=CONFIG_HELP)
    saved.add_argument("--force", action="store_true", help="replace PATH if it exists")


def _add_twilio(commands: argparse._SubParsersAction) -> None:
    twilio = commands.add_parser("twilio", help="set up the Twilio account")
    twilio_actions = twilio.add_subparsers(dest="twilio_action", required=True)
    configure = twilio_actions.add_parser(
        "configure", help="point each line number's voice and SMS webhooks at this service")
    configure.add_argument("--config", help=CONFIG_HELP)
    configure.add_argument("--dry-run", action="store_true", help="print what would change")
    configure.add_argument("--messaging-service-webhook", action="store_true",
                           help="set each Messaging Service that sends a line's texts "
                                "elsewhere to 'Defer to sender's webhook'")


def _add_db(commands: argparse._SubParsersAction) -> None:
    db = commands.add_parser("db", help="the database's schema version and its upgrade")
    actions = db.add_subparsers(dest="db_action", required=True)
    for name, text in (("status", "print the schema version and the steps not yet applied"),
                       ("upgrade", "apply the steps this ivr knows that the database lacks")):
        actions.add_parser(name, help=text).add_argument("--config", help=CONFIG_HELP)


def _add_simulate(commands: argparse._SubParsersAction) -> None:
    simulator = commands.add_parser(
        "simulate", help="text or call a running service as Twilio would (signed webhooks)")
    simulator.add_argument("--config", help=CONFIG_HELP)
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
    call.add_argument("--hang-up-after", type=float, metavar="SECONDS",
                      help="the caller hangs up after this many seconds of ringing")
    call.add_argument("--hang-up-at-prompt", action="store_true",
                      help="the caller hangs up during the voicemail prompt")
    call.add_argument("--text-back", action="store_true",
                      help="at the voicemail prompt the caller presses the line's text-back"
                           " key (text_back_key) instead of leaving a message")
    answer = actions.add_parser(
        "answer-page", help="answer the newest phone page as the responder and press keys")
    answer.add_argument("--press", action="append", default=[], metavar="KEY",
                        help="1 takes it, 2 passes it on, 3 hears it again; repeatable "
                             "(default: nothing, as a voicemail greeting would)")


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help=CONFIG_HELP)
    parser.add_argument("--bind", help=f"HOST:PORT (default: $IVR_BIND or {DEFAULT_BIND})")
    parser.add_argument("--workers", type=int, default=1, help="Hypercorn worker processes")


# What a shell reports for a command whose reader went away (128 + SIGPIPE),
# as `seq 100000 | head -1` does.
CLOSED_STDOUT = 141


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout,
         err: TextIO = sys.stderr) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = _run(args, out, err)
        out.flush()   # inside the try: a reader that went away is caught below
        return code
    except StartupError as exc:
        err.write(f"ivr: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `ivr log | head -1`: the reader has what it wanted. Anything still
        # buffered for stdout goes nowhere, so exiting prints no second error.
        _discard_stdout(out)
        return CLOSED_STDOUT


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.command == "serve":
        return serve(ServeOptions(args.config, args.bind, args.workers), out)
    if args.command == "simulate":
        return asyncio.run(run_simulation(args, out))
    if args.command == "hash-password":
        return admin.hash_password_command(out)
    if args.command == "init":
        answers = Answers(args.line_name, args.line_number, args.responder, args.tier,
                          args.timezone, args.database)
        return init(args.path, answers, sys.stdin.isatty(), input, out)
    config, secrets = load_everything(config_path(args.config))
    if args.command == "check":
        return asyncio.run(check(config, secrets, os.environ.get("IVR_ENV_FILE"), out))
    if args.command == "log":
        wanted = admin.LogFilter(args.line, args.number, args.conversation)
        return asyncio.run(admin.log(config, wanted, args.limit, args.follow, out))
    if args.command == "conversations":
        return asyncio.run(admin.conversations(config, out))
    if args.command == "block":
        return asyncio.run(blocked_numbers.block_command(config, args.number, args.line,
                                                         args.reason, out))
    if args.command == "unblock":
        return asyncio.run(blocked_numbers.unblock_command(config, args.number, args.line, out))
    if args.command == "blocked":
        return asyncio.run(blocked_numbers.blocked_command(config, out))
    if args.command == "db":
        if args.db_action == "status":
            return schema_command.status(config, out)
        return asyncio.run(schema_command.upgrade(config, out))
    if args.command == "user":
        return asyncio.run(users_command.run(config, args, out))
    if args.command == "backup":
        return backup(config, args.path, args.force, out)
    if args.command == "hooks":
        if args.hooks_action == "list":
            return hook_commands.list_hooks(config, secrets, out)
        return asyncio.run(hook_commands.test_hook(config, args.name, out, err))
    if args.command == "reset-local":
        return reset_local(config, secrets, out)
    if args.command == "twilio":
        return asyncio.run(admin.twilio_configure(config, secrets, args.dry_run, out, err,
                                                  args.messaging_service_webhook))
    return 2


def _discard_stdout(out: TextIO) -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):   # not a real file (a test's StringIO)
        pass


async def run_simulation(args: argparse.Namespace, out: TextIO) -> int:
    path = config_path(args.config)
    config, secrets = load_everything(path)
    line = simulate.pick_line(config, args.line, path)
    target = simulate.find_target(config, secrets, args.url, path)
    if args.action == "answer-page":
        return await simulate_phone_page.answer_page(config, target, args.press, path, out)
    if args.action == "text":
        sender = simulate.sender_number(config, args.as_, args.from_, path)
        return await simulate.text(config, target, line, sender, args.body, args.media, out)
    caller = simulate.sender_number(config, None, args.from_, path)
    if args.answer and args.answer not in config.responders:
        raise StartupError(f"--answer {args.answer!r} is not a responder in {path}. "
                           f"Fix: use one of: {', '.join(config.responders)}")
    script = simulate.CallScript(keys=args.press, answer=args.answer, message=args.message,
                                 hang_up_after=args.hang_up_after,
                                 hang_up_at_prompt=args.hang_up_at_prompt,
                                 text_back=args.text_back)
    return await simulate.call(config, target, line, caller, script, out)
