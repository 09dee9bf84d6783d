"""Applications binding to gatewayd over SMPP: the same policies as HTTP, receipts back as
deliver_sm, and bad logins slowed down. The ESME is our own carrier client here; an ESME
nobody here wrote (Net::SMPP) is in tests/interop."""

import struct
import subprocess
from collections.abc import Callable

import trio

from gatewayd.core.receipts import ReceiptState, parse_receipt
from gatewayd.core.statuses import Status
from gatewayd.protocols.smpp import codec
from gatewayd.protocols.smpp.client import Carrier, CarrierSettings, Outcome
from tests.tls_files import IssuedFiles, issue_files

SMPP_APP = """
        smpp: {system_id: shop, password: "pw-shop", max_binds: 2}"""


def with_smpp_app(text: str) -> str:
    return text.replace("        max_parts: 3", "        max_parts: 3" + SMPP_APP) + (
        '\nsmpp_server: {listen: ["127.0.0.1:0"], failed_login_delay_s: 0.01}\n'
    )


def with_tls_server(issued: IssuedFiles) -> Callable[[str], str]:
    """The SMPP application's configuration with the SMPP server serving `issued` over TLS."""
    tls = f"tls_certificate: {issued.certificate}, tls_key: {issued.key}, "
    return lambda text: with_smpp_app(text).replace("smpp_server: {", "smpp_server: {" + tls)


class Esme:
    def __init__(self) -> None:
        self.delivered: list[codec.Pdu] = []
        self.changed = trio.Event()

    async def on_deliver(self, carrier: str, pdu: codec.Pdu) -> int:
        self.delivered.append(pdu)
        self.changed.set()
        self.changed = trio.Event()
        return codec.ESME_ROK

    async def wait_for(self, count: int) -> None:
        with trio.fail_after(10):
            while len(self.delivered) < count:
                await self.changed.wait()


async def bound_esme(nursery, port: int, password: str = "pw-shop"):
    esme = Esme()
    carrier = Carrier(
        CarrierSettings(
            name="app",
            host="127.0.0.1",
            port=port,
            system_id="shop",
            password=password,
            reconnect_min_s=0.05,
        ),
        esme.on_deliver,
    )
    await nursery.start(carrier.run)
    return esme, carrier


SUBMIT = {
    "source_addr": "8686",
    "destination_addr": "32470000001",
    "registered_delivery": 1,
    "short_message": b"via SMPP",
}


async def test_a_submit_reaches_the_carrier_and_its_receipt_comes_back(gateway_factory, nursery):
    gateway = await gateway_factory(accounts_patch=with_smpp_app)
    esme, carrier = await bound_esme(nursery, gateway.smpp_port)
    with trio.fail_after(10):
        await carrier.wait_healthy()
    result = await carrier.submit(SUBMIT)
    assert result.outcome is Outcome.ACCEPTED
    await gateway.simulator.wait_until(lambda: len(gateway.simulator.submitted) == 1)
    assert gateway.simulator.submitted[0].fields["short_message"] == b"via SMPP"
    await esme.wait_for(1)
    receipt = parse_receipt(esme.delivered[0].get("short_message"), esme.delivered[0].fields)
    assert receipt.message_id == result.message_id and receipt.state is ReceiptState.DELIVERED
    status = await gateway.status_of(result.message_id)
    assert status["StatusCode"] == Status.DELIVERED.code


async def test_policies_refuse_with_fitting_smpp_statuses(gateway_factory, nursery):
    gateway = await gateway_factory(accounts_patch=with_smpp_app)
    await gateway.admin.post("/admin/accounts/acme/blacklist", json={"msisdn": "32470000002"})
    _, carrier = await bound_esme(nursery, gateway.smpp_port)
    with trio.fail_after(10):
        await carrier.wait_healthy()
    cases = [
        ({"destination_addr": "12"}, codec.ESME_RINVDSTADR),
        ({"destination_addr": "32470000002"}, codec.ESME_RX_P_APPN),
        ({"source_addr": "9999"}, codec.ESME_RINVSRCADR),
        ({"short_message": b""}, codec.ESME_RINVMSGLEN),
    ]
    for change, status in cases:
        result = await carrier.submit({**SUBMIT, **change})
        assert (result.outcome, result.status) == (Outcome.REJECTED, status), change


async def test_incoming_messages_to_the_applications_number_arrive_as_deliver_sm(
    gateway_factory, nursery
):
    gateway = await gateway_factory(accounts_patch=with_smpp_app)
    esme, carrier = await bound_esme(nursery, gateway.smpp_port)
    with trio.fail_after(10):
        await carrier.wait_healthy()
    await gateway.simulator.inject_mo("32470000001", "8686", b"Hi shop")
    await esme.wait_for(1)
    pdu = esme.delivered[0]
    assert (pdu.text("source_addr"), pdu.text("destination_addr")) == ("32470000001", "8686")
    assert pdu.get("short_message") == b"Hi shop"


async def test_a_wrong_password_is_refused_and_nothing_is_bound(gateway_factory, nursery):
    gateway = await gateway_factory(accounts_patch=with_smpp_app)
    _, carrier = await bound_esme(nursery, gateway.smpp_port, password="wrong")
    result = await carrier.submit(SUBMIT)
    assert result.outcome is Outcome.RETRY and not carrier.healthy()
    assert gateway.runtime.smpp_door.binds.count("shop") == 0


async def test_a_concatenated_submit_is_reassembled_into_one_message(gateway_factory, nursery):
    gateway = await gateway_factory(accounts_patch=with_smpp_app)
    _, carrier = await bound_esme(nursery, gateway.smpp_port)
    with trio.fail_after(10):
        await carrier.wait_healthy()
    halves = [b"A" * 153, b"B" * 20]
    ids = []
    for seq, half in enumerate(halves, start=1):
        udh = bytes((5, 0, 3, 7, 2, seq))
        result = await carrier.submit({**SUBMIT, "esm_class": 0x40, "short_message": udh + half})
        assert result.outcome is Outcome.ACCEPTED
        ids.append(result.message_id)
    status = await gateway.status_of(ids[-1])
    assert status["Message"] == "A" * 153 + "B" * 20 and status["NumberOfParts"] == 2


async def test_more_binds_than_allowed_are_refused(gateway_factory, nursery):
    gateway = await gateway_factory(accounts_patch=with_smpp_app)
    carriers = [(await bound_esme(nursery, gateway.smpp_port))[1] for _ in range(3)]
    with trio.fail_after(10):
        for carrier in carriers[:2]:
            await carrier.wait_healthy()
    assert gateway.runtime.smpp_door.binds.count("shop") == 2
    assert not carriers[2].healthy()


async def test_garbage_and_oversized_pdus_get_a_nack_and_the_server_stays_up(gateway_factory):
    import struct

    gateway = await gateway_factory(accounts_patch=with_smpp_app)
    for garbage in (
        struct.pack(">LLLL", 16, 0xDEAD, 0, 5),
        struct.pack(">LLLL", 10_000_000, 4, 0, 6) + b"x" * 64,
    ):
        stream = await trio.open_tcp_stream("127.0.0.1", gateway.smpp_port)
        async with stream:
            await stream.send_all(garbage)
            with trio.fail_after(5):
                answer = await stream.receive_some(100)
        nack = codec.decode(answer[:16])
        assert nack.command == "generic_nack" and nack.status in (
            codec.ESME_RINVCMDID,
            codec.ESME_RINVCMDLEN,
        )
    _, carrier = await bound_esme_after(gateway)
    assert (await carrier.submit(SUBMIT)).outcome is Outcome.ACCEPTED


async def bound_esme_after(gateway):
    esme = Esme()
    carrier = Carrier(
        CarrierSettings(
            name="app",
            host="127.0.0.1",
            port=gateway.smpp_port,
            system_id="shop",
            password="pw-shop",
        ),
        esme.on_deliver,
    )
    await gateway.nursery.start(carrier.run)
    with trio.fail_after(10):
        await carrier.wait_healthy()
    return esme, carrier


async def test_a_receipt_waits_in_storage_until_the_application_binds_again(gateway_factory):
    from gatewayd.core.receipts import Receipt

    gateway = await gateway_factory(accounts_patch=with_smpp_app)
    gateway.simulator.settings.receipts = False
    async with trio.open_nursery() as first_bind:
        _, carrier = await bound_esme(first_bind, gateway.smpp_port)
        with trio.fail_after(10):
            await carrier.wait_healthy()
        result = await carrier.submit(SUBMIT)
        await gateway.simulator.wait_until(lambda: len(gateway.simulator.submitted) == 1)
        first_bind.cancel_scope.cancel()
    carrier_id = gateway.simulator.submitted[0].message_id

    async def submitted():
        return (await gateway.status_of(result.message_id))["StatusCode"] == Status.SUBMITTED.code

    await gateway.wait_until(submitted)
    matcher = gateway.runtime.receipts
    await matcher.apply("sim", Receipt(carrier_id, ReceiptState.DELIVERED), "late receipt")
    esme, _ = await bound_esme_after(gateway)
    await esme.wait_for(1)
    receipt = parse_receipt(esme.delivered[0].get("short_message"), esme.delivered[0].fields)
    assert receipt.message_id == result.message_id and receipt.state is ReceiptState.DELIVERED


async def test_the_per_bind_tps_limit_throttles_and_the_esme_retries(gateway_factory, nursery):
    gateway = await gateway_factory(
        accounts_patch=lambda text: with_smpp_app(text).replace(
            "max_binds: 2}", "max_binds: 2, max_tps: 2}"
        )
    )
    _, carrier = await bound_esme(nursery, gateway.smpp_port)
    with trio.fail_after(10):
        await carrier.wait_healthy()
    results = [await carrier.submit({**SUBMIT, "short_message": b"m%d" % n}) for n in range(5)]
    assert all(r.outcome is Outcome.ACCEPTED for r in results)
    assert carrier.status_counts.get(codec.ESME_RTHROTTLED, 0) >= 1


async def test_applications_bind_over_tls_when_the_server_has_a_certificate(
    gateway_factory, nursery, tmp_path
):
    """smpp_server.tls_certificate: every connection is SMPP over TLS, with the configured
    certificate; a bind in plain TCP to that port gets no bind_resp."""
    issued = issue_files(tmp_path, "smpp")
    gateway = await gateway_factory(accounts_patch=with_tls_server(issued))
    tcp = await trio.open_tcp_stream("127.0.0.1", gateway.smpp_port)
    stream = trio.SSLStream(tcp, issued.client_context(), server_hostname="127.0.0.1")
    with trio.fail_after(10):
        await stream.do_handshake()
    assert stream.getpeercert()["subjectAltName"] == (("IP Address", "127.0.0.1"),)
    await stream.aclose()

    esme = Esme()
    settings = CarrierSettings(
        name="app",
        host="127.0.0.1",
        port=gateway.smpp_port,
        system_id="shop",
        password="pw-shop",
        tls=True,
        tls_verify=False,
        reconnect_min_s=0.05,
    )
    carrier = Carrier(settings, esme.on_deliver)
    await nursery.start(carrier.run)
    with trio.fail_after(10):
        await carrier.wait_healthy()
    result = await carrier.submit(SUBMIT)
    assert result.outcome is Outcome.ACCEPTED
    await esme.wait_for(1)

    plain = await trio.open_tcp_stream("127.0.0.1", gateway.smpp_port)
    await plain.send_all(codec.encode("bind_transceiver", 1, system_id="shop", password="pw-shop"))
    try:
        with trio.fail_after(10):
            answer = await plain.receive_some(4096)
    except trio.BrokenResourceError:
        answer = b""
    assert not answer.startswith(b"\x00\x00"), "no bind_resp in plain TCP"
    await plain.aclose()


def test_a_certificate_that_cannot_serve_is_refused_at_load(tmp_path):
    from gatewayd.config.errors import ConfigError
    from gatewayd.config.loader import load_config

    config = tmp_path / "gatewayd.yaml"
    config.write_text(
        f"smpp_server: {{tls_certificate: {tmp_path}/missing.pem}}\n"
        f"smtp: {{domain: example.org, tls_key: {tmp_path}/key.pem}}\n"
    )
    try:
        load_config(config)
    except ConfigError as error:
        problems = error.problems
    else:
        raise AssertionError("loaded")
    missing = f"{tmp_path}/missing.pem: No such file or directory"
    assert f"smpp_server.tls_certificate: cannot read {missing}" in problems
    assert "smtp.tls_key: given without tls_certificate" in problems


def bind_transceiver_pdu(sequence: int, system_id: bytes, password: bytes) -> bytes:
    """A bind_transceiver built by hand from SMPP 3.4 §4.1.5, not by our codec."""
    body = system_id + b"\0" + password + b"\0" + b"\0" + bytes([0x34, 0, 0]) + b"\0"
    return struct.pack(">IIII", 16 + len(body), 0x00000009, 0, sequence) + body


async def test_openssl_s_client_binds_to_the_smpp_server_over_tls(gateway_factory, tmp_path):
    """An independent TLS peer: OpenSSL's s_client verifies the served certificate against
    the authority and carries a hand-built bind_transceiver; its bind_transceiver_resp comes
    back with status 0."""
    issued = issue_files(tmp_path, "smpp")
    authority = tmp_path / "authority.pem"
    issued.authority.cert_pem.write_to_path(authority)
    gateway = await gateway_factory(accounts_patch=with_tls_server(issued))
    command = ["openssl", "s_client", "-quiet", "-verify_return_error", "-CAfile", str(authority)]
    command += ["-verify_ip", "127.0.0.1", "-connect", f"127.0.0.1:{gateway.smpp_port}"]
    process = await trio.lowlevel.open_process(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        await process.stdin.send_all(bind_transceiver_pdu(7, b"shop", b"pw-shop"))
        received = b""
        with trio.fail_after(10):
            while len(received) < 16 or len(received) < struct.unpack(">I", received[:4])[0]:
                chunk = await process.stdout.receive_some(4096)
                assert chunk, "s_client ended without an answer"
                received += chunk
    finally:
        process.kill()
        await process.wait()
    length, command_id, status, sequence = struct.unpack(">IIII", received[:16])
    assert (command_id, status, sequence) == (0x80000009, 0, 7)
    assert received[16:length].rstrip(b"\0"), "the server's system_id"
