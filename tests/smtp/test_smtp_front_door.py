"""E-mail to SMS with Python's smtplib over a real socket, through the same core as HTTP."""

import logging
import smtplib
from email.message import EmailMessage

import pytest
import trio

from tests.daemon.conftest import free_port
from tests.gateway import KEY
from tests.tls_files import issue_files

DOMAIN = "sms.example.net"


def smtp_section(port: int, extra: str = "") -> str:
    return f'\nsmtp: {{listen: ["127.0.0.1:{port}"], domain: {DOMAIN}{extra}}}\n'


@pytest.fixture
async def mail_gateway(gateway_factory):
    return await gateway_factory(extra=smtp_section(free_port()))


def mail(
    text: str = "Hello by mail",
    to: str = f"32470000001@{DOMAIN}",
    html: str | None = None,
    subject: str = "ignored",
) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "shop@example.com", to, subject
    if html is None:
        message.set_content(text)
    else:
        message.set_content(html, subtype="html")
    return message


def send(port: int, message: EmailMessage, recipients: list[str], login: tuple | None):
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        if login:
            client.login(*login)
        return client.send_message(message, to_addrs=recipients)


async def test_an_authenticated_mail_becomes_an_sms_at_the_simulator(mail_gateway):
    refused = await trio.to_thread.run_sync(
        send, mail_gateway.smtp_port, mail(), [f"32470000001@{DOMAIN}"], ("shop", KEY)
    )
    assert refused == {}
    simulator = mail_gateway.simulator
    await simulator.wait_until(lambda: len(simulator.submitted) == 1)
    assert simulator.submitted[0].fields["short_message"] == b"Hello by mail"
    assert simulator.submitted[0].fields["destination_addr"] == b"32470000001"


async def test_each_bad_recipient_is_refused_in_the_dialogue_and_the_rest_go(mail_gateway):
    await mail_gateway.admin.post("/admin/accounts/acme/blacklist", json={"msisdn": "32470000002"})
    recipients = [
        f"32470000001@{DOMAIN}",
        f"12@{DOMAIN}",
        f"32470000002@{DOMAIN}",
        "32470000003@elsewhere.example",
    ]
    refused = await trio.to_thread.run_sync(
        send, mail_gateway.smtp_port, mail(), recipients, ("shop", KEY)
    )
    assert set(refused) == set(recipients[1:])
    assert refused[f"32470000002@{DOMAIN}"][0] == 550
    assert b"blacklisted" in refused[f"32470000002@{DOMAIN}"][1]
    simulator = mail_gateway.simulator
    await simulator.wait_until(lambda: len(simulator.submitted) == 1)


async def test_wrong_credentials_and_no_credentials_are_refused(mail_gateway):
    with pytest.raises(smtplib.SMTPAuthenticationError):
        await trio.to_thread.run_sync(
            send, mail_gateway.smtp_port, mail(), [f"32470000001@{DOMAIN}"], ("shop", "nope-nope")
        )
    with pytest.raises(smtplib.SMTPRecipientsRefused) as raised:
        await trio.to_thread.run_sync(
            send, mail_gateway.smtp_port, mail(), [f"32470000001@{DOMAIN}"], None
        )
    assert next(iter(raised.value.recipients.values()))[0] == 530


async def test_an_html_only_mail_is_turned_into_text(mail_gateway):
    html = "<html><body><p>Your code:</p><p><b>1234</b> &amp; thanks</p></body></html>"
    await trio.to_thread.run_sync(
        send, mail_gateway.smtp_port, mail(html=html), [f"32470000001@{DOMAIN}"], ("shop", KEY)
    )
    simulator = mail_gateway.simulator
    await simulator.wait_until(lambda: len(simulator.submitted) == 1)
    assert simulator.submitted[0].fields["short_message"] == b"Your code:\n1234 & thanks"


async def test_a_mail_over_the_size_limit_is_refused(gateway_factory):
    gateway = await gateway_factory(extra=smtp_section(free_port(), ", max_message_bytes: 2048"))
    with pytest.raises(smtplib.SMTPException):
        await trio.to_thread.run_sync(
            send, gateway.smtp_port, mail("x" * 5000), [f"32470000001@{DOMAIN}"], ("shop", KEY)
        )
    assert gateway.simulator.submitted == []


async def test_a_mail_without_text_is_refused(mail_gateway):
    empty = EmailMessage()
    empty["From"], empty["Subject"] = "shop@example.com", ""
    empty.add_attachment(b"\x00\x01", maintype="application", subtype="octet-stream")
    with pytest.raises(smtplib.SMTPDataError) as raised:
        await trio.to_thread.run_sync(
            send, mail_gateway.smtp_port, empty, [f"32470000001@{DOMAIN}"], ("shop", KEY)
        )
    assert raised.value.smtp_code == 550


async def test_an_allowed_sender_from_a_whitelisted_address_needs_no_auth(gateway_factory):
    def patch(text: str) -> str:
        text = text.replace(
            "    blacklist: true", '    blacklist: true\n    ip_whitelist: ["127.0.0.0/8"]', 1
        )
        return text.replace(
            "        max_parts: 3",
            '        max_parts: 3\n        smtp: {allowed_senders: ["shop@example.com"]}',
        )

    gateway = await gateway_factory(extra=smtp_section(free_port()), accounts_patch=patch)
    refused = await trio.to_thread.run_sync(
        send, gateway.smtp_port, mail(), [f"32470000001@{DOMAIN}"], None
    )
    assert refused == {}
    await gateway.simulator.wait_until(lambda: len(gateway.simulator.submitted) == 1)


async def test_broken_mime_is_answered_not_crashed_on(mail_gateway):
    raw = (
        b'From: a@example.com\r\nContent-Type: multipart/mixed; boundary="x"\r\n\r\n'
        b"--x\r\nContent-Type: text/plain; charset=no-such-charset\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n--x"
    )

    def send_raw():
        with smtplib.SMTP("127.0.0.1", mail_gateway.smtp_port, timeout=10) as client:
            client.login("shop", KEY)
            try:
                client.sendmail("a@example.com", [f"32470000001@{DOMAIN}"], raw)
            except smtplib.SMTPDataError as error:
                return error.smtp_code
            return 250

    code = await trio.to_thread.run_sync(send_raw)
    assert code in (250, 550)
    second = await trio.to_thread.run_sync(
        send, mail_gateway.smtp_port, mail(), [f"32470000001@{DOMAIN}"], ("shop", KEY)
    )
    assert second == {}, "the server still serves"


async def test_the_subject_comes_first_when_configured(gateway_factory):
    gateway = await gateway_factory(extra=smtp_section(free_port(), ", use_subject: true"))
    await trio.to_thread.run_sync(
        send,
        gateway.smtp_port,
        mail("the body", subject="Alert"),
        [f"32470000001@{DOMAIN}"],
        ("shop", KEY),
    )
    await gateway.simulator.wait_until(lambda: len(gateway.simulator.submitted) == 1)
    assert gateway.simulator.submitted[0].fields["short_message"] == b"Alert\nthe body"


@pytest.fixture
def certificate(tmp_path):
    """A certificate for 127.0.0.1 from a throwaway authority; the client context trusts it."""
    issued = issue_files(tmp_path, "smtp")
    return issued.certificate, issued.key, issued.client_context()


async def test_starttls_then_auth_then_a_mail_becomes_an_sms(gateway_factory, certificate):
    certificate_path, key_path, client_context = certificate
    tls = f", tls_certificate: '{certificate_path}', tls_key: '{key_path}'"
    gateway = await gateway_factory(extra=smtp_section(free_port(), tls))

    def send_over_tls():
        with smtplib.SMTP("127.0.0.1", gateway.smtp_port, timeout=10) as client:
            client.starttls(context=client_context)
            client.login("shop", KEY)
            return client.send_message(mail(), to_addrs=[f"32470000001@{DOMAIN}"])

    assert await trio.to_thread.run_sync(send_over_tls) == {}
    simulator = gateway.simulator
    await simulator.wait_until(lambda: len(simulator.submitted) == 1)
    assert simulator.submitted[0].fields["short_message"] == b"Hello by mail"


async def test_auth_before_starttls_is_refused_when_a_certificate_is_configured(
    gateway_factory, certificate
):
    certificate_path, key_path, _ = certificate
    tls = f", tls_certificate: '{certificate_path}', tls_key: '{key_path}'"
    gateway = await gateway_factory(extra=smtp_section(free_port(), tls))
    with pytest.raises(smtplib.SMTPException):
        await trio.to_thread.run_sync(
            send, gateway.smtp_port, mail(), [f"32470000001@{DOMAIN}"], ("shop", KEY)
        )
    assert gateway.simulator.submitted == []


async def test_a_mail_leaves_no_per_connection_chatter_nor_deprecation_warnings(
    mail_gateway, caplog
):
    caplog.set_level(logging.INFO)
    refused = await trio.to_thread.run_sync(
        send, mail_gateway.smtp_port, mail(), [f"32470000001@{DOMAIN}"], ("shop", KEY)
    )
    assert refused == {}
    await mail_gateway.simulator.wait_until(lambda: len(mail_gateway.simulator.submitted) == 1)
    chatter = [r for r in caplog.records if r.name == "mail.log"]
    assert chatter == [], [r.getMessage() for r in chatter]
    assert not [r for r in caplog.records if "deprecated" in r.getMessage()]
