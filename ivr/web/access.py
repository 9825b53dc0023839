"""Who is signed in and what their role lets them do, checked on the
server for every action route: a viewer's POST is answered 403 whatever
the page showed. The rule itself is ivr.roles (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import wraps
from typing import Any, Awaitable, Callable

from quart import abort, g

from ..roles import SHARED_OPERATOR, SHARED_ROLE, Action, Role, allowed
from ..store.users import SessionUser


@dataclass(frozen=True)
class Operator:
    name: str      # what decision rows name them by
    role: Role
    shared: bool   # signed in with the single operator password

    def can(self, action: Action | str) -> bool:
        return allowed(self.role, Action(action))


def signed_in(user: SessionUser) -> Operator:
    if user.name is None:
        return Operator(SHARED_OPERATOR, SHARED_ROLE, True)
    return Operator(user.name, Role(user.role), False)


def current_operator() -> Operator:
    """The operator of this request; only after login_required has run."""
    return g.operator


def allowed_to(action: Action) -> Callable[[Callable[..., Awaitable[Any]]],
                                           Callable[..., Awaitable[Any]]]:
    """Refuses (403) an operator whose role does not allow `action`. Placed
    under @login_required, which finds the operator."""
    def decorate(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @wraps(handler)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_operator().can(action):
                abort(403, f"a {current_operator().role} may not {action}")
            return await handler(*args, **kwargs)
        return wrapper
    return decorate
