"""The operator accounts as `ivr user` and the dashboard's People page
change them: the same checks either way. Passwords are hashed like the
operator password (ivr.passwords); the store keeps only the hash."""

from __future__ import annotations

from .passwords import hash_password
from .roles import BadAccount, account_name, account_role
from .store import Tx

MIN_PASSWORD = 10   # as `ivr hash-password` asks of the operator password


def checked_password(password: str) -> str:
    """The hash of an acceptable password."""
    if len(password) < MIN_PASSWORD:
        raise BadAccount(f"the password is shorter than {MIN_PASSWORD} characters. Fix: "
                         "choose a longer one")
    return hash_password(password)


def add_account(tx: Tx, typed_name: str, typed_role: str, password_hash: str) -> str:
    name, role = account_name(typed_name), account_role(typed_role)
    if not tx.add_user(name, role, password_hash):
        raise BadAccount(f"there is already an account named {name}. Fix: choose another "
                         f"name, or change its password with `ivr user passwd {name}`")
    return name


def remove_account(tx: Tx, typed_name: str, by: str | None = None) -> str:
    name = typed_name.strip()
    if by is not None and name == by:
        raise BadAccount("you cannot remove your own account. Fix: ask another admin, or "
                         "use `ivr user remove` on the server")
    if not tx.remove_user(name):
        raise BadAccount(f"there is no account named {name}. Fix: see `ivr user list`")
    return name


def change_role(tx: Tx, typed_name: str, typed_role: str, by: str | None = None) -> str:
    name, role = typed_name.strip(), account_role(typed_role)
    if by is not None and name == by:
        raise BadAccount("you cannot change your own role. Fix: ask another admin, or use "
                         "`ivr user add` on the server")
    if not tx.set_user_role(name, role):
        raise BadAccount(f"there is no account named {name}. Fix: see `ivr user list`")
    return name


def change_password(tx: Tx, typed_name: str, password_hash: str) -> str:
    name = typed_name.strip()
    if not tx.set_user_password(name, password_hash):
        raise BadAccount(f"there is no account named {name}. Fix: see `ivr user list`")
    return name
