"""Message ids: 32 hex digits, ordered by creation time (good index locality), unguessable."""

import os
import time


def new_message_id() -> str:
    """48 bits of milliseconds since the epoch, then 80 random bits."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"
