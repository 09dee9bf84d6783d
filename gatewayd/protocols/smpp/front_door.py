"""The SMPP server front door: applications (and partner carriers) bind to gatewayd.

submit_sm goes through exactly the same core as the HTTP API (Submitter); receipts and
incoming messages for the application come back as deliver_sm on its receiver-capable binds
(see smpp_outbox). Wrong passwords slow down the address that tries them.
"""

import hmac
import logging
from dataclasses import dataclass, field

import trio

from gatewayd.core.client_address import allowed_by_whitelist, client_address
from gatewayd.core.directory import App
from gatewayd.core.encoding import Encoding
from gatewayd.core.ids import new_message_id
from gatewayd.core.message_service import (
    PEER_WRITE_TIMEOUT_S,
    MessageService,
    answering_within,
    is_storage_failure,
)
from gatewayd.core.mo_decoding import ESM_UDHI, concat_from_sar, decode_user_data, split_udh
from gatewayd.core.result_codes import Result
from gatewayd.core.submission import SubmitRefused, SubmitRequest
from gatewayd.protocols.listeners import open_listeners
from gatewayd.protocols.smpp import codec
from gatewayd.protocols.smpp.codec import Pdu
from gatewayd.protocols.smpp.connection import SmppConnection
from gatewayd.protocols.smpp.rate import TokenBucket
from gatewayd.protocols.smpp.session import Session
from gatewayd.protocols.tls import server_context

log = logging.getLogger(__name__)
MAX_LOGIN_DELAY_S = 10.0
REFUSALS = {
    Result.INVALID_NUMBER: codec.ESME_RINVDSTADR,
    Result.BLACKLISTED: codec.ESME_RX_P_APPN,
    Result.INVALID_SENDER: codec.ESME_RINVSRCADR,
    Result.EMPTY_MESSAGE: codec.ESME_RINVMSGLEN,
    Result.TOO_MANY_PARTS: codec.ESME_RINVMSGLEN,
    Result.NOT_ENCODABLE_AS_TEXT: codec.ESME_RINVMSGLEN,
    Result.SCHEDULED_IN_THE_PAST: codec.ESME_RINVSCHED,
    Result.VALIDITY_BEFORE_SCHEDULE: codec.ESME_RINVEXPIRY,
    Result.MAINTENANCE: codec.ESME_RX_T_APPN,  # temporary: the ESME submits it again later
    Result.TRIAL_EXPIRED: codec.ESME_RX_P_APPN,
    Result.NOT_AUTHORIZED_IN_TRIAL: codec.ESME_RX_P_APPN,
    Result.TRIAL_QUOTA_REACHED: codec.ESME_RX_P_APPN,
    Result.QUOTA_REACHED: codec.ESME_RX_T_APPN,
}
"""What a submit_sm refused by the core answers; a quota of a day or month passes (temporary),
the trial's conditions do not."""


@dataclass(eq=False)
class Bind:
    """One bound ESME session."""

    app: App
    connection: SmppConnection
    tps: TokenBucket | None = None

    @property
    def can_receive(self) -> bool:
        return self.connection.session.state.can_receive and not self.connection.closed


@dataclass
class BindRegistry:
    by_application: dict[str, list[Bind]] = field(default_factory=dict)

    def add(self, bind: Bind) -> None:
        self.by_application.setdefault(bind.app.name, []).append(bind)

    def remove(self, bind: Bind) -> None:
        binds = self.by_application.get(bind.app.name, [])
        if bind in binds:
            binds.remove(bind)

    def count(self, application: str) -> int:
        return len(self.by_application.get(application, []))

    def receiver(self, application: str) -> Bind | None:
        receivers = [b for b in self.by_application.get(application, []) if b.can_receive]
        return min(receivers, key=lambda b: b.connection.session.outstanding, default=None)


class SmppFrontDoor:
    def __init__(self, service: MessageService, stop_requested: trio.Event) -> None:
        self.service = service
        self._stop_requested = stop_requested
        self.binds = BindRegistry()
        self._failures: dict[str, int] = {}
        self.connections = 0

    @property
    def config(self):
        return self.service.config.smpp_server

    async def serve(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        config = self.config
        listeners = await open_listeners("smpp_server", [str(a) for a in config.listen])
        task_status.started([listener.socket.getsockname()[:2] for listener in listeners])
        served: list[trio.abc.Listener] = list(listeners)
        if config.tls_certificate:
            context = server_context(config.tls_certificate, config.tls_key)
            served = [trio.SSLListener(listener, context) for listener in listeners]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, self._session, served)
            await self._stop_requested.wait()
            for binds in list(self.binds.by_application.values()):
                for bind in list(binds):
                    await bind.connection.unbind()
            nursery.cancel_scope.cancel()

    async def _session(self, stream: trio.SocketStream | trio.SSLStream) -> None:
        transport = stream.transport_stream if isinstance(stream, trio.SSLStream) else stream
        assert isinstance(transport, trio.SocketStream)
        peer = transport.socket.getpeername()[0]
        if self.connections >= self.config.max_connections:
            log.warning(
                "SMPP connection from %s closed: already %d connections (max_connections)",
                peer,
                self.connections,
            )
            await stream.aclose()
            return
        self.connections += 1
        state: dict[str, Bind] = {}
        connection = SmppConnection(
            stream,
            Session(self.config.max_pdu_bytes),
            lambda pdu: self._on_request(pdu, peer, connection, state),
            name=f"esme@{peer}",
            enquire_link_s=60,
        )
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._close_unless_bound, connection, state, peer)
                await connection.run()
                nursery.cancel_scope.cancel()
        finally:
            self.connections -= 1
            if "bind" in state:
                self.binds.remove(state["bind"])
                log.info("%s unbound (%s)", state["bind"].app.name, peer)

    async def _close_unless_bound(
        self, connection: SmppConnection, state: dict[str, Bind], peer: str
    ) -> None:
        """An open socket that never binds holds a connection slot: give it bind_timeout_s."""
        await trio.sleep(self.config.bind_timeout_s)
        if "bind" not in state:
            log.warning(
                "SMPP connection from %s closed: not bound within %gs",
                peer,
                self.config.bind_timeout_s,
            )
            await connection.close()

    async def _on_request(
        self, pdu: Pdu, peer: str, connection: SmppConnection, state: dict[str, Bind]
    ) -> tuple[int, dict]:
        if pdu.command.startswith("bind_"):
            return await self._bind(pdu, peer, connection, state)
        bind = state.get("bind")
        if bind is None:
            return codec.ESME_RINVBNDSTS, {}
        if pdu.command in ("submit_sm", "data_sm"):
            if not connection.session.state.can_transmit:
                return codec.ESME_RINVBNDSTS, {}
            return await self._submit_within(bind, pdu)
        return codec.ESME_RINVCMDID, {}

    async def _submit_within(self, bind: Bind, pdu: Pdu) -> tuple[int, dict]:
        """A submit whose message cannot be stored in time (disk full, database away) is
        answered at once with a temporary error the ESME retries on: nothing was stored."""
        try:
            with answering_within(PEER_WRITE_TIMEOUT_S):
                return await self._submit(bind, pdu)
        except Exception as error:
            if not is_storage_failure(error):
                raise
            log.warning("submit_sm of %s not stored: %s", bind.app.name, error)
            return codec.ESME_RX_T_APPN, {}

    async def _bind(
        self, pdu: Pdu, peer: str, connection: SmppConnection, state: dict[str, Bind]
    ) -> tuple[int, dict]:
        if "bind" in state:
            return codec.ESME_RALYBND, {}
        system_id, password = pdu.text("system_id"), pdu.text("password")
        app = self.service.directory.by_smpp_system_id.get(system_id)
        settings = app.config.smpp if app else None
        if (
            app is None
            or settings is None
            or not hmac.compare_digest(
                password.encode(), settings.password.get_secret_value().encode()
            )
        ):
            failures = self._failures[peer] = self._failures.get(peer, 0) + 1
            delay = min(MAX_LOGIN_DELAY_S, self.config.failed_login_delay_s * failures)
            log.warning("SMPP bind refused for %r from %s (%d failures)", system_id, peer, failures)
            await trio.sleep(delay)
            return (codec.ESME_RINVSYSID if app is None else codec.ESME_RINVPASWD), {}
        whitelist = settings.ip_whitelist or app.account.ip_whitelist
        if not allowed_by_whitelist(client_address(peer, None, []), whitelist):
            log.warning("SMPP bind of %s refused from %s: not whitelisted", system_id, peer)
            return codec.ESME_RBINDFAIL, {}
        if self.binds.count(app.name) >= settings.max_binds:
            return codec.ESME_RBINDFAIL, {}
        self._failures.pop(peer, None)
        connection.set_inbound_window(settings.window)
        bind = Bind(app, connection, TokenBucket(settings.max_tps) if settings.max_tps else None)
        state["bind"] = bind
        self.binds.add(bind)
        log.info("%s bound as %s from %s", app.name, pdu.command.removeprefix("bind_"), peer)
        return codec.ESME_ROK, {"system_id": self.config.system_id}

    async def _submit(self, bind: Bind, pdu: Pdu) -> tuple[int, dict]:
        if bind.tps is not None and bind.tps.tokens_available() < 1:
            return codec.ESME_RTHROTTLED, {}
        if bind.tps is not None:
            await bind.tps.acquire()
        data = pdu.get("short_message", b"") or pdu.get("message_payload", b"")
        data_coding = pdu.get("data_coding", 0)
        if pdu.get("esm_class", 0) & ESM_UDHI:
            concat, data = split_udh(data)
        else:
            concat = concat_from_sar(pdu.fields)
        source, destination = pdu.text("source_addr"), pdu.text("destination_addr")
        if concat is not None and concat.total > 1:
            try:
                whole = await self.service.add_fragment(
                    {
                        "carrier": f"esme:{bind.app.name}",
                        "sender": source,
                        "recipient": destination,
                        "reference": concat.reference,
                        "total": concat.total,
                        "seq": concat.seq,
                        "data_coding": data_coding,
                        "payload": data,
                        "time_received": self.service.clock(),
                    }
                )
            except SubmitRefused as refused:
                return REFUSALS.get(refused.result, codec.ESME_RSUBMITFAIL), {}
            if whole is None:
                return codec.ESME_ROK, {"message_id": new_message_id()}
            data = b"".join(fragment.payload for fragment in whole)
        text = decode_user_data(data_coding, data)
        if "\x00" in text:  # PostgreSQL text cannot hold it; the HTTP API refuses it too
            return codec.ESME_RINVMSGLEN, {}
        request = SubmitRequest(
            recipients=[destination],
            text=text,
            sender=source or None,
            encoding=Encoding.UNICODE if data_coding == 8 else Encoding.AUTO,
            replace_if_present=bool(pdu.get("replace_if_present_flag", 0)),
            front_door="smpp",
            priority=_priority(bind.app, pdu),
        )
        try:
            (result,) = await self.service.submit(bind.app, request)
        except SubmitRefused as refused:
            return REFUSALS.get(refused.result, codec.ESME_RSUBMITFAIL), {}
        if result.message_id is None:
            return REFUSALS.get(result.result, codec.ESME_RSUBMITFAIL), {}
        return codec.ESME_ROK, {"message_id": result.message_id}


def _priority(app: App, pdu: Pdu) -> int | None:
    """The submit_sm's priority_flag when the application takes it (0-3; SMPP 3.4 allows
    nothing higher), else None: the application's own priority."""
    if app.config.smpp is None or not app.config.smpp.priority_flag:
        return None
    return min(max(pdu.get("priority_flag", 0), 0), 3)
