"""How long a Dial may ring: pure, no I/O.

The call's deadline must hold while a tier rings, not only when its Dial
ends, so each Dial's timeout is cut to the time left before the deadline.
"""

from __future__ import annotations

import math
from datetime import datetime

# Twilio's shortest Dial timeout; a shorter one is raised to it, so with
# less than this left the caller is better offered voicemail at once.
MIN_DIAL_SECONDS = 5


def dial_timeout(ring_seconds: int, now: datetime, deadline: datetime) -> int | None:
    """The Dial's timeout, or None when too little time is left to ring."""
    left = math.floor((deadline - now).total_seconds())
    if left < MIN_DIAL_SECONDS:
        return None
    return min(ring_seconds, left)
