"""Who may do what on the dashboard: named accounts have a role, the
single operator password (a one-person business) acts as an admin. Pure:
the web checks each action route against `allowed` on the server."""

from __future__ import annotations

import re
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"          # everything, including the accounts
    OPERATOR = "operator"    # acts on conversations and numbers
    VIEWER = "viewer"        # reads only


class Action(StrEnum):
    READ = "read"                    # the dashboard, the picture of the line
    ACT = "act"                      # close, hand over, block, unblock, try again
    REVEAL = "reveal"                # see a customer's whole number (logged)
    MANAGE_PEOPLE = "manage people"  # add, remove, change the role of an account


ALLOWED: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.OPERATOR: frozenset({Action.READ, Action.ACT, Action.REVEAL}),
    Role.VIEWER: frozenset({Action.READ}),
}

# What the single operator password's decisions are signed with: the name
# the log used before there were accounts, so no account may take it.
SHARED_OPERATOR = "operator"
SHARED_ROLE = Role.ADMIN

NAME = re.compile(r"[a-z][a-z0-9._-]{0,31}")


class BadAccount(ValueError):
    """A name or a role that cannot be used; the message says the fix."""


def allowed(role: Role | str, action: Action) -> bool:
    try:
        return action in ALLOWED[Role(role)]
    except ValueError:
        return False


def account_name(typed: str) -> str:
    name = typed.strip()
    if not NAME.fullmatch(name):
        raise BadAccount(f"{typed!r} cannot name an account. Fix: 1 to 32 lower-case letters, "
                         "digits, '.', '_' or '-', starting with a letter")
    if name == SHARED_OPERATOR:
        raise BadAccount(f"{name!r} is what the shared operator password signs the log with. "
                         "Fix: choose another name")
    return name


def account_role(typed: str) -> Role:
    try:
        return Role(typed.strip().lower())
    except ValueError:
        raise BadAccount(f"{typed!r} is no role. Fix: use one of: "
                         f"{', '.join(r.value for r in Role)}") from None
