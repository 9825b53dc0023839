"""`ivr user add|list|remove|passwd`: the operator accounts, changed on
the server. A password is prompted twice on a terminal, or read from
stdin's first line (a script), never taken from the command line."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TextIO

from . import people
from .admin import _open_store
from .clock import SystemClock
from .config import Config
from .roles import BadAccount, Role
from .shown_times import day_and_time, line_zone
from .startup_checks import StartupError
from .store import AnyStore, store_for


def add_parser(commands: argparse._SubParsersAction, config_help: str) -> None:
    user = commands.add_parser("user", help="named operator accounts for the dashboard")
    actions = user.add_subparsers(dest="user_action", required=True)
    add = actions.add_parser("add", help="add an account (the password is prompted)")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", required=True, choices=[r.value for r in Role],
                     help="admin: everything; operator: acts on conversations; viewer: reads")
    actions.add_parser("list", help="the accounts and their roles")
    actions.add_parser("remove", help="remove an account; its logins end at once"
                       ).add_argument("name", metavar="NAME")
    actions.add_parser("passwd", help="set an account's password; its logins end"
                       ).add_argument("name", metavar="NAME")
    for parser in actions.choices.values():
        parser.add_argument("--config", help=config_help)


def read_password(stdin: TextIO | None = None) -> str:
    stdin = stdin or sys.stdin
    if stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise StartupError("the two passwords differ. Fix: run it again")
        return password
    return stdin.readline().rstrip("\n")


async def run(config: Config, args: argparse.Namespace, out: TextIO,
              stdin: TextIO | None = None) -> int:
    try:
        if args.user_action in ("add", "passwd"):
            password_hash = people.checked_password(read_password(stdin))
        store = await (_create_store(config) if args.user_action == "add"
                       else _open_store(config))
        try:
            if args.user_action == "add":
                name = await store.write(lambda tx: people.add_account(
                    tx, args.name, args.role, password_hash))
                out.write(f"added {name} ({args.role})\n")
            elif args.user_action == "passwd":
                name = await store.write(lambda tx: people.change_password(
                    tx, args.name, password_hash))
                out.write(f"changed the password of {name}; their logins have ended\n")
            elif args.user_action == "remove":
                name = await store.write(lambda tx: people.remove_account(tx, args.name))
                out.write(f"removed {name}; their logins have ended\n")
            else:
                _list(config, await store.read(lambda tx: tx.users()), out)
        finally:
            await store.close()
    except BadAccount as exc:
        raise StartupError(str(exc)) from None
    return 0


async def _create_store(config: Config) -> AnyStore:
    """The first account may come before the first start: the database is
    made (with its schema) as `ivr serve` would make it."""
    store = store_for(config.database, SystemClock())
    await store.open()
    return store


def _list(config: Config, users: list, out: TextIO) -> None:
    if not users:
        out.write("No accounts: the shared operator password (IVR_OPERATOR_PASSWORD) is the "
                  "only way in.\n")
    zone = line_zone(config)
    for user in users:
        out.write(f"{user.name:32} {user.role:9} since {day_and_time(user.created_at, zone)}\n")
