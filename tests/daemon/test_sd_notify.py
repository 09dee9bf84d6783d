"""The notification protocol against a real datagram socket, as systemd provides it."""

import os
import socket
import uuid

import trio

from gatewayd.sd_notify import Notifier


def test_messages_reach_a_path_socket(tmp_path):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        notifier = Notifier({"NOTIFY_SOCKET": path})
        notifier.ready()
        notifier.stopping()
        assert listener.recv(100) == b"READY=1\nSTATUS=serving"
        assert listener.recv(100) == b"STOPPING=1\nSTATUS=stopping"
        notifier.close()


def test_messages_reach_an_abstract_socket():
    name = f"gatewayd-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
        notifier.reloading()
        message = listener.recv(100).decode()
        assert message.startswith("RELOADING=1\nMONOTONIC_USEC=")
        notifier.close()


def test_without_notify_socket_nothing_is_sent_and_nothing_fails():
    notifier = Notifier({})
    assert not notifier.enabled and notifier.watchdog_interval is None
    notifier.ready()


def test_a_vanished_socket_is_logged_not_raised(tmp_path, caplog):
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    notifier.ready()
    assert "cannot notify systemd" in caplog.text


def test_watchdog_interval_is_half_of_watchdog_usec_and_respects_watchdog_pid():
    assert Notifier({"WATCHDOG_USEC": "30000000"}).watchdog_interval == 15.0
    other_pid = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert Notifier(other_pid).watchdog_interval is None


async def test_the_watchdog_is_fed_only_while_healthy(tmp_path, autojump_clock):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        listener.setblocking(False)
        notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})
        healthy = [True]
        with trio.move_on_after(3.5):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(notifier.keep_watchdog_fed, lambda: healthy[0])
                await trio.sleep(2.5)
                healthy[0] = False
        pings = []
        while True:
            try:
                pings.append(listener.recv(100))
            except BlockingIOError:
                break
        assert pings == [b"WATCHDOG=1"] * 3, "pings at 0, 1 and 2 s; none once unhealthy"
        notifier.close()
