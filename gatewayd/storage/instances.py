"""Running instances of the daemon: each has an identity of its own and a lease it renews.

Claims are made under an instance id, never under the node id alone (two processes started
on the same host by mistake share a node id), so a live instance never loses the work it
holds: only the claims of an instance whose process is known to be gone are handed back at
once; those of an instance whose lease ran out run out by themselves.
"""

import os
import secrets
import socket
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, delete, insert, or_, select, update

from gatewayd.processes import pid_alive
from gatewayd.storage.claims import release_claims_of
from gatewayd.storage.tables import instances


def new_instance_id(node_id: str) -> str:
    """The node id and a random suffix: unique per process, still readable in the database."""
    return f"{node_id[:47]}-{secrets.token_hex(8)}"


def process_home() -> str:
    """Where this process's pid means something: host, boot and pid namespace. Two
    instances with the same home can tell whether the other's process still exists."""
    boot = _read("/proc/sys/kernel/random/boot_id")
    try:
        namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        namespace = ""
    return f"{socket.gethostname()} {boot} {namespace}"[:255]


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def register(
    connection: Connection, instance_id: str, node_id: str, now: datetime, lease: timedelta
) -> None:
    connection.execute(
        insert(instances).values(
            id=instance_id,
            node_id=node_id[:64],
            home=process_home(),
            pid=os.getpid(),
            time_started=now,
            lease_until=now + lease,
        )
    )


def renew(
    connection: Connection, instance_id: str, node_id: str, now: datetime, lease: timedelta
) -> bool:
    """Extend this instance's lease; False if it had already run out (its claims may have
    been handed back meanwhile), in which case the lease is taken again."""
    renewed = connection.execute(
        update(instances)
        .where(instances.c.id == instance_id, instances.c.lease_until >= now)
        .values(lease_until=now + lease)
    ).rowcount
    if renewed:
        return True
    found = connection.execute(
        update(instances).where(instances.c.id == instance_id).values(lease_until=now + lease)
    ).rowcount
    if not found:
        register(connection, instance_id, node_id, now, lease)
    return False


def take_over_dead(connection: Connection, now: datetime) -> list[str]:
    """Forget the instances that are dead; hand back at once the claims of those whose process
    is known to be gone. The ids of the dead instances.

    Dead: its lease ran out, or it lived in this process's home and its pid is gone. Only the
    second is proof that it submits nothing more: an instance whose lease ran out may still
    run (its database connection cut, the process stopped), and it submits a claimed message
    only while that claim lasts, so its claims are left to run out by themselves."""
    home = process_home()
    rows = connection.execute(
        select(instances.c.id, instances.c.home, instances.c.pid, instances.c.lease_until)
        .where(or_(instances.c.lease_until < now, instances.c.home == home))
        .with_for_update(skip_locked=True)
    ).all()
    gone = [row.id for row in rows if row.home == home and not pid_alive(row.pid)]
    dead = gone + [row.id for row in rows if row.lease_until < now and row.id not in gone]
    if gone:
        release_claims_of(connection, *gone)
    if dead:
        connection.execute(delete(instances).where(instances.c.id.in_(dead)))
    return dead


def leave(connection: Connection, instance_id: str) -> None:
    """At a clean stop: this instance's claims are free again at once, and it is gone."""
    release_claims_of(connection, instance_id)
    connection.execute(delete(instances).where(instances.c.id == instance_id))
