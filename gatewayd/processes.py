"""Whether a process of this host still runs (for leases and files named after a pid)."""

import os


def pid_alive(pid: int) -> bool:
    """True while process `pid` exists, this one included, even if it is not ours to signal."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
