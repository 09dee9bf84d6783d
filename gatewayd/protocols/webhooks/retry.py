"""When to try a webhook again: exponential backoff with jitter, up to a horizon."""

import random
from datetime import datetime, timedelta


def next_delay(attempts: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """Seconds before try number `attempts + 1` (attempts >= 1): base·2^(n-1), ±25%, capped."""
    delay = min(max_s, base_s * 2 ** min(attempts - 1, 30))
    return delay * (0.75 + rng.random() * 0.5)


def gives_up(first_try: datetime, now: datetime, horizon_s: float) -> bool:
    return now - first_try >= timedelta(seconds=horizon_s)
