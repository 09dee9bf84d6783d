"""Everything a carrier delivers: receipts go to the matcher, mobile-originated messages are
reassembled, stored, routed to their application (by keyword, else the number's own;
STOP/START/HELP applied), and only then acknowledged: the deliver_sm_resp waits for the
commit.

A carrier's deliver_sm come in batches (all those of one read, see
protocols/smpp/connection.py): a batch is one item of the writer, its receipts applied and
its messages stored in one transaction (with the other batches of the same commit), then all
answered. A batch the storage refuses is answered with a temporary error the carrier retries
on; one that fails otherwise is written again one PDU at a time, so a PDU that cannot be
stored fails alone.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from gatewayd.config.holder import ConfigHolder
from gatewayd.config.schema import AccountConfig
from gatewayd.core.events import incoming_events
from gatewayd.core.ids import new_message_id
from gatewayd.core.mo_decoding import ESM_UDHI, Concat, concat_from_sar, decode_user_data, split_udh
from gatewayd.core.receipt_matching import ReceiptMatcher, ReceivedReceipt
from gatewayd.core.receipts import Receipt, parse_receipt
from gatewayd.core.recipients import country_of
from gatewayd.core.submission import reply_row
from gatewayd.protocols.smpp import codec
from gatewayd.protocols.smpp.codec import Pdu
from gatewayd.storage import blacklist as blacklist_store
from gatewayd.storage import incoming as incoming_store
from gatewayd.storage import messages as message_store
from gatewayd.storage.writer import (
    PEER_WRITE_TIMEOUT_S,
    Writer,
    answering_within,
    is_storage_failure,
)

log = logging.getLogger(__name__)
ESM_RECEIPT = 0x04


@dataclass(frozen=True)
class _Delivered:
    """One batch of a carrier's deliver_sm: its receipts and its mobile-originated messages
    (each PDU with its user data)."""

    carrier: str
    receipts: list[ReceivedReceipt]
    messages: list[tuple[Pdu, bytes]]


def _contents(pdu: Pdu) -> tuple[bytes, Receipt | None]:
    """A deliver_sm's user data, and the receipt it carries if it is one."""
    user_data = pdu.get("short_message", b"") or pdu.get("message_payload", b"")
    if pdu.get("esm_class", 0) & ESM_RECEIPT or "receipted_message_id" in pdu.fields:
        user_data = user_data.replace(b"\x00", b"")  # ASCII text; no NUL in PostgreSQL
        return user_data, parse_receipt(user_data, pdu.fields)
    return user_data, None


class Inbound:
    def __init__(
        self,
        holder: ConfigHolder,
        writer: Writer,
        receipts: ReceiptMatcher,
        clock: Callable[[], datetime],
    ) -> None:
        self._holder = holder
        self._writer = writer
        self._receipts = receipts
        self._clock = clock
        self.unrouted = 0
        self._deliveries = _StoreDeliveries(self)

    async def on_deliver_batch(self, carrier: str, pdus: list[Pdu]) -> list[int]:
        """The command_status of each deliver_sm_resp, sent after this returns: all of the
        batch stored in one write."""
        receipts: list[ReceivedReceipt] = []
        messages: list[tuple[Pdu, bytes]] = []
        for pdu in pdus:
            user_data, receipt = _contents(pdu)
            if receipt is not None:
                raw = user_data.decode("latin-1")
                receipts.append(self._receipts.received(carrier, receipt, raw))
            else:
                messages.append((pdu, user_data))
        batch = _Delivered(carrier, receipts, messages)
        try:
            # Not urgent: the carrier's window covers a wait of DEFER_S for a commit that
            # starts anyway (at 100 messages/s, the next accepted request's), where a commit
            # of its own would be one more per message.
            with answering_within(PEER_WRITE_TIMEOUT_S):
                applied = await self._writer.write_bulk(self._deliveries, batch, urgent=False)
        except Exception as error:
            if is_storage_failure(error):
                log.warning(
                    "could not store %d deliver_sm from %s (%s); the carrier will retry",
                    len(pdus),
                    carrier,
                    error,
                )
                return [codec.ESME_RX_T_APPN] * len(pdus)
            log.warning("a batch of %d deliver_sm from %s failed; one by one", len(pdus), carrier)
            return [await self.on_deliver(carrier, pdu) for pdu in pdus]
        self._receipts.report(receipts, applied)
        return [codec.ESME_ROK] * len(pdus)

    async def on_deliver(self, carrier: str, pdu: Pdu) -> int:
        """The command_status for the deliver_sm_resp, sent after this returns."""
        user_data, receipt = _contents(pdu)
        try:
            # The carrier waits for the answer: a write the storage cannot take (disk full)
            # fails soon, and the deliver_sm is answered with a temporary error.
            with answering_within(PEER_WRITE_TIMEOUT_S):
                if receipt is not None:
                    await self._receipts.apply(carrier, receipt, user_data.decode("latin-1"))
                else:
                    await self._writer.write(lambda c: self._store_mo(c, carrier, pdu, user_data))
        except Exception:
            log.exception("could not store a deliver_sm from %s; the carrier will retry", carrier)
            return codec.ESME_RX_T_APPN
        return codec.ESME_ROK

    def _store_mo(self, connection: Connection, carrier: str, pdu: Pdu, data: bytes) -> None:
        now = self._clock()
        data_coding = pdu.get("data_coding", 0)
        concat: Concat | None = None
        if pdu.get("esm_class", 0) & ESM_UDHI:
            concat, data = split_udh(data)
        else:
            concat = concat_from_sar(pdu.fields)
        sender, recipient = pdu.text("source_addr"), pdu.text("destination_addr")
        if concat is not None and concat.total > 1:
            fragments = incoming_store.add_fragment(
                connection,
                {
                    "carrier": carrier,
                    "sender": sender,
                    "recipient": recipient,
                    "reference": concat.reference,
                    "total": concat.total,
                    "seq": concat.seq,
                    "data_coding": data_coding,
                    "payload": data,
                    "time_received": now,
                },
            )
            if fragments is None:
                return
            data = b"".join(fragment.payload for fragment in fragments)
        # A NUL cannot be stored (PostgreSQL text): it becomes U+FFFD, as undecodable data does.
        text = decode_user_data(data_coding, data).replace("\x00", "\ufffd")
        self.deliver_text(connection, carrier, sender, recipient, text, now)

    def deliver_text(
        self,
        connection: Connection,
        carrier: str | None,
        sender: str,
        recipient: str,
        text: str,
        now: datetime,
    ) -> None:
        """Store one whole incoming message, do what the gateway answers itself (STOP, START,
        HELP), and hand the message to its application: the owner of its keyword on the
        number, else the number's own."""
        route = self._holder.current.directory.route_incoming(recipient, text)
        account, app = route.account, route.app
        row: dict[str, Any] = {
            "id": new_message_id(),
            "account": account.name if account else None,
            "application": app.name if app else None,
            "carrier": carrier,
            "sender": sender,
            "recipient": recipient,
            "body": text,
            "country": country_of(sender),
            "reference": (
                message_store.last_reference_to(connection, app.name, sender) if app else None
            ),
            "time_received": now,
            "keyword": route.keyword,
            "action": route.words.action(text) if route.words else None,
        }
        reply = _apply_action(connection, row, account) if account else None
        if reply and app is not None:
            # The reply goes out even to a number now blacklisted, and to one that already was.
            answer = reply_row(
                app,
                sender,
                recipient,
                reply,
                now,
                reference=_REPLY_REFERENCES[row["action"]],
                carrier=carrier,
            )
            message_store.insert_messages(connection, [answer])
            row["reply_id"] = answer["id"]
        incoming_store.insert_incoming(connection, row)
        if app is None:
            self.unrouted += 1
            log.warning("incoming message to %s, which no application owns; stored", recipient)
            return
        poll, jobs = incoming_events(row, app, now)
        message_store.add_events(connection, poll, jobs)


def _apply_action(
    connection: Connection, row: dict[str, Any], account: AccountConfig
) -> str | None:
    """Do the incoming row's action (an opt-out or opt-in holds for the whole account); the
    reply configured for it."""
    action, sender = row["action"], row["sender"]
    if action == "stop":
        blacklist_store.add(connection, account.name, sender, "stop", row["time_received"])
        log.info("%s opted out of %s by %r", sender, account.name, row["body"])
        return account.stop_reply
    if action == "start":
        blacklist_store.remove(connection, account.name, sender)
        log.info("%s opted in again to %s", sender, account.name)
        return account.start_reply
    if action == "help":
        return account.help_reply
    return None


_REPLY_REFERENCES = {
    "stop": "opt-out confirmation",
    "start": "opt-in confirmation",
    "help": "help reply",
}


class _StoreDeliveries:
    """Bulk: the batches of deliver_sm of one commit; every receipt of them applied together,
    then their mobile-originated messages stored. The results: each batch's applied receipts."""

    def __init__(self, inbound: Inbound) -> None:
        self._inbound = inbound

    def run_bulk(self, connection: Connection, batches: list[_Delivered]) -> list[list[Any]]:
        inbound = self._inbound
        receipts = [receipt for batch in batches for receipt in batch.receipts]
        applied = inbound._receipts.apply_in(connection, receipts) if receipts else []
        for batch in batches:
            for pdu, user_data in batch.messages:
                inbound._store_mo(connection, batch.carrier, pdu, user_data)
        results: list[list[Any]] = []
        start = 0
        for batch in batches:
            results.append(applied[start : start + len(batch.receipts)])
            start += len(batch.receipts)
        return results
