"""The SMPP server and e-mail during a storage outage (a full disk, a database away): a submit
the storage cannot take gets a temporary error at once, nothing of it is stored, one answered
as accepted is stored, and the same submit goes through once the storage is back. (HTTP:
tests/api/test_api_storage_outage.py.)

A full SQLite database still takes a small write now and then (it reuses the pages a failed
transaction gave back), so each test submits distinct texts until one is refused, and checks
each answer against what was stored."""

import smtplib

import trio
from sqlalchemy import select

from gatewayd.protocols.smpp import codec
from gatewayd.protocols.smpp.client import Outcome
from gatewayd.storage.tables import messages
from gatewayd.storage.writer import PEER_WRITE_TIMEOUT_S
from tests.daemon.conftest import free_port
from tests.gateway import KEY
from tests.smpp.test_smpp_front_door import SUBMIT, bound_esme, with_smpp_app
from tests.smtp.test_smtp_front_door import DOMAIN, mail, send, smtp_section
from tests.storage_outage import StorageOutage

ANSWER_WITHIN_S = PEER_WRITE_TIMEOUT_S + 3
TRIES = 200
RECIPIENTS = [f"32470000001@{DOMAIN}"]


def _stored_texts(engine) -> set[str]:
    """What was stored (read once the storage is back)."""
    with engine.connect() as connection:
        return set(connection.execute(select(messages.c.body)).scalars())


def _smtp_code(error: smtplib.SMTPException) -> int:
    """The refusal's code, at RCPT (the blacklist read) or at DATA (the write)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        (code, _), *_ = error.recipients.values()
        return code
    assert isinstance(error, smtplib.SMTPResponseException)
    return error.smtp_code


async def _during_outage(gateway, submit) -> tuple[list[str], str]:
    """Submit texts during an outage until one is refused: (the accepted ones, the refused
    one). `submit(text)` answers True when the text was accepted."""
    outage = StorageOutage(gateway.runtime.engine)
    accepted: list[str] = []
    await trio.to_thread.run_sync(outage.begin)
    try:
        for n in range(TRIES):
            text = f"during the outage {n}"
            with trio.fail_after(ANSWER_WITHIN_S):
                if not await submit(text):
                    return accepted, text
            accepted.append(text)
    finally:
        await trio.to_thread.run_sync(outage.end)
    raise AssertionError(f"{TRIES} submits, none refused: the outage was not felt")


async def test_an_smpp_submit_the_storage_refuses_gets_a_temporary_error_and_is_not_stored(
    gateway_factory, nursery
):
    gateway = await gateway_factory(accounts_patch=with_smpp_app)
    _, carrier = await bound_esme(nursery, gateway.smpp_port)
    with trio.fail_after(10):
        await carrier.wait_healthy()
    refusals = []

    async def submit(text: str) -> bool:
        result = await carrier.submit({**SUBMIT, "short_message": text.encode()})
        if result.outcome is Outcome.ACCEPTED:
            return True
        refusals.append((result.outcome, result.status))
        return False

    accepted, refused = await _during_outage(gateway, submit)
    assert refusals == [(Outcome.RETRY, codec.ESME_RX_T_APPN)], "a temporary error, retried"
    stored = _stored_texts(gateway.runtime.engine)
    assert refused not in stored, "nothing of the refused submit was stored"
    assert set(accepted) <= stored, "every submit answered ESME_ROK was stored"
    with trio.fail_after(ANSWER_WITHIN_S):
        again = await carrier.submit({**SUBMIT, "short_message": refused.encode()})
    assert again.outcome is Outcome.ACCEPTED
    assert refused in _stored_texts(gateway.runtime.engine)


async def test_a_mail_the_storage_refuses_gets_451_and_is_not_stored(gateway_factory):
    gateway = await gateway_factory(extra=smtp_section(free_port()))
    codes = []

    async def submit(text: str) -> bool:
        try:
            await trio.to_thread.run_sync(
                send, gateway.smtp_port, mail(text), RECIPIENTS, ("shop", KEY)
            )
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError) as error:
            codes.append(_smtp_code(error))
            return False
        return True

    accepted, refused = await _during_outage(gateway, submit)
    assert codes == [451], "a temporary refusal: the sending mail server tries again"
    stored = _stored_texts(gateway.runtime.engine)
    assert refused not in stored, "nothing of the refused mail was stored"
    assert set(accepted) <= stored, "every mail answered 250 was stored"
    assert await submit(refused), "the same mail goes through once the storage is back"
    assert refused in _stored_texts(gateway.runtime.engine)
