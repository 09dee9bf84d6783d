"""Which TCP ports a process listens on, read from /proc (Linux): its socket inodes matched
against the kernel's tables of listening sockets."""

import os
from pathlib import Path

TCP_LISTEN = "0A"


def listening_ports(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("tcp", "tcp6"):
        lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == TCP_LISTEN and inode in inodes:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports
