"""E-mail to SMS: aiosmtpd in its own thread, handing each mail to the trio core.

Mail to `<msisdn>@<domain>` becomes an SMS from the application that authenticated (SMTP
AUTH: the application's name and one of its API keys), or whose allowed sender address sent
it from an address on the account's IP whitelist. Each recipient is answered in the
dialogue: 550 for a number that cannot exist or is blacklisted. The 250 after DATA comes only
once the messages are stored. With a certificate configured, STARTTLS is offered and AUTH
needs it (unless `auth_without_tls`), on loopback too.
"""

import asyncio
import ipaddress
import logging
import ssl
from functools import partial
from typing import TYPE_CHECKING, Any

import trio
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from gatewayd.config.types import parse_listen
from gatewayd.core.client_address import allowed_by_whitelist, client_address
from gatewayd.core.directory import App
from gatewayd.core.message_service import (
    PEER_WRITE_TIMEOUT_S,
    MessageService,
    answering_within,
    is_storage_failure,
)
from gatewayd.core.quotas import authorized_in_trial
from gatewayd.core.recipients import check_recipient
from gatewayd.core.result_codes import Result
from gatewayd.core.submission import SubmitRefused, SubmitRequest
from gatewayd.protocols.listeners import listen_error
from gatewayd.protocols.smtp.mail_text import NoText, sms_text
from gatewayd.protocols.tls import server_context

if TYPE_CHECKING:
    from gatewayd.daemon import Runtime

log = logging.getLogger(__name__)
NOT_STORED = "451 4.3.0 Storage unavailable, try again later"
REFUSED_BY_POLICY = {Result.TRIAL_EXPIRED, Result.TRIAL_QUOTA_REACHED, Result.QUOTA_REACHED}
"""Refused whole for what the application may send, not for what the mail holds: 5.7.1,
permanent (a mail retried for days would reach a phone long after it was meant to)."""
# aiosmtpd logs every connection and command at INFO on this logger.
_AIOSMTPD_LOG = logging.getLogger("mail.log")


class _QuietSession(Session):
    """aiosmtpd itself still sets the legacy `login_data` after every AUTH, and warns each
    time; we read the current `auth_data` only, so the legacy attribute is kept silently."""

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class _SmtpServer(SMTP):
    def _create_session(self) -> Session:
        return _QuietSession(self.loop)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _SmtpServer(self.handler, **self.SMTP_kwargs)


class SmsMailHandler:
    def __init__(self, service: MessageService, token: trio.lowlevel.TrioToken) -> None:
        self.service = service
        self.token = token

    @property
    def config(self):
        return self.service.config.smtp

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        app = self.service.directory.authenticate(auth_data.password.decode("utf-8", "replace"))
        if app is None or app.name != login:
            log.warning("SMTP AUTH refused for %r from %s", login, session.peer[0])
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=app.name)

    def _application(self, session: Session, envelope: Envelope) -> App | None:
        directory = self.service.directory
        if session.authenticated and session.auth_data:
            return directory.by_name.get(session.auth_data)
        sender = (envelope.mail_from or "").lower()
        address = client_address(session.peer[0], None, [])
        for app in directory.by_name.values():
            allowed = {a.lower() for a in app.config.smtp.allowed_senders}
            whitelist = app.account.ip_whitelist
            if sender in allowed and whitelist and allowed_by_whitelist(address, whitelist):
                return app
        return None

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        app = self._application(session, envelope)
        if app is None:
            return "530 5.7.0 Authentication required (or an allowed sender and address)"
        local, _, domain = address.rpartition("@")
        if domain.lower() != self.config.domain.lower():
            return f"550 5.1.2 Only <number>@{self.config.domain} is delivered here"
        recipient = check_recipient(local)
        if not recipient.valid:
            return f"550 5.1.1 {local}: {recipient.problem}"
        if not authorized_in_trial(app, recipient.msisdn):
            return f"550 5.7.1 {recipient.msisdn}: {Result.NOT_AUTHORIZED_IN_TRIAL.description}"
        if app.account.blacklist:
            try:
                blacklisted = await self._call(self.service.blacklisted, app, recipient.msisdn)
            except Exception as error:
                if not is_storage_failure(error):
                    raise
                log.warning("blacklist of %s not read: %s", app.account.name, error)
                return NOT_STORED
            if blacklisted:
                return f"550 5.7.1 {recipient.msisdn}: recipient is blacklisted"
        envelope.rcpt_tos.append(recipient.msisdn)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        app = self._application(session, envelope)
        if app is None:
            return "530 5.7.0 Authentication required"
        try:
            text = sms_text(envelope.original_content or envelope.content, self.config.use_subject)
        except NoText as error:
            return f"550 5.6.0 {error}"
        request = SubmitRequest(recipients=list(envelope.rcpt_tos), text=text, front_door="smtp")
        try:
            results = await self._call(self._submit_within, app, request)
        except SubmitRefused as refused:
            if refused.result is Result.MAINTENANCE:  # temporary: the sender's server retries
                return f"451 4.3.2 {refused}"
            if refused.result in REFUSED_BY_POLICY:
                return f"550 5.7.1 {refused}"
            return f"550 5.6.0 {refused}"
        if results is None:
            return NOT_STORED
        ids = [r.message_id for r in results if r.message_id]
        if not ids:
            return "550 5.1.1 no recipient accepted"
        return f"250 2.0.0 Queued as {','.join(ids)}"

    async def _submit_within(self, app: App, request: SubmitRequest):
        """The results, or None when the message could not be stored in time (disk full,
        database away): nothing was stored, and the sender's server tries again."""
        try:
            with answering_within(PEER_WRITE_TIMEOUT_S):
                return await self.service.submit(app, request)
        except Exception as error:
            if not is_storage_failure(error):
                raise
            log.warning("mail of %s not stored: %s", app.name, error)
            return None

    async def _call(self, function, *args):
        """Run `function` in the trio core from aiosmtpd's loop, without blocking that loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, partial(trio.from_thread.run, function, *args, trio_token=self.token)
        )


def _tls_context(config) -> ssl.SSLContext | None:
    """STARTTLS, when a certificate is configured."""
    if not config.tls_certificate:
        return None
    return server_context(config.tls_certificate, config.tls_key)


def _auth_requires_tls(config, tls_context: ssl.SSLContext | None, loopback: bool) -> bool:
    """AUTH without TLS only when configured so, or on a loopback listener that has no
    certificate (where STARTTLS could never be offered)."""
    if config.auth_without_tls:
        return False
    return tls_context is not None or not loopback


async def serve_smtp(runtime: "Runtime", task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Run one aiosmtpd controller per listen address until cancelled."""
    config = runtime.holder.current.config.smtp
    debug = logging.getLogger().isEnabledFor(logging.DEBUG)
    _AIOSMTPD_LOG.setLevel(logging.NOTSET if debug else logging.WARNING)
    assert runtime.service is not None, "the core's service is built before the front doors"
    handler = SmsMailHandler(runtime.service, trio.lowlevel.current_trio_token())
    tls_context = _tls_context(config)
    controllers = []
    try:
        for listen in config.listen:
            host, port = parse_listen(listen)
            loopback = ipaddress.ip_address(host).is_loopback if host[0].isdigit() else False
            controller = _Controller(
                handler,
                hostname=host,
                port=port,
                server_hostname=config.domain,
                authenticator=handler.authenticate,
                data_size_limit=config.max_message_bytes,
                tls_context=tls_context,
                auth_require_tls=_auth_requires_tls(config, tls_context, loopback),
            )
            try:
                await trio.to_thread.run_sync(controller.start)
            except OSError as error:
                raise listen_error("smtp", str(listen), error) from None
            controllers.append(controller)
        addresses = [c.server.sockets[0].getsockname()[:2] for c in controllers]
        task_status.started(addresses)
        await runtime.stop_requested.wait()
    finally:
        with trio.CancelScope(shield=True):
            for controller in controllers:
                await trio.to_thread.run_sync(controller.stop)
