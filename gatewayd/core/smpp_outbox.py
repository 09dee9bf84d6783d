"""Receipts and incoming messages for applications bound over SMPP, sent as deliver_sm.

They are outbox rows (channel "smpp") like webhooks, so they wait in storage while the
application has no receiver-capable bind, and survive restarts. The outbox claims when jobs
of its channel commit (the writer's after-commit topic), and otherwise at a slow poll.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Connection, Row

from gatewayd.config.holder import ConfigHolder
from gatewayd.core.claim_loop import ClaimLoop
from gatewayd.core.encoding import Alphabet, Encoding, encode_text
from gatewayd.core.events import claimed_with_records
from gatewayd.core.statuses import Status
from gatewayd.protocols.smpp import codec
from gatewayd.protocols.smpp.connection import ConnectionLost, ResponseTimeout
from gatewayd.protocols.smpp.front_door import BindRegistry
from gatewayd.storage import outbox as store
from gatewayd.storage.writer import Writer

log = logging.getLogger(__name__)
NOT_BOUND_RETRY = timedelta(seconds=5)
RECEIPT_STATES = {
    Status.DELIVERED: (2, "DELIVRD"),
    Status.EXPIRED: (3, "EXPIRED"),
    Status.REJECTED: (8, "REJECTD"),
    Status.UNKNOWN: (7, "UNKNOWN"),
}


class SmppOutbox:
    def __init__(
        self,
        holder: ConfigHolder,
        writer: Writer,
        binds: BindRegistry,
        node_id: str,
        clock: Callable[[], datetime],
        lease: timedelta = timedelta(seconds=120),
    ) -> None:
        self._holder = holder
        self._lease = lease
        self._writer = writer
        self._binds = binds
        self._node = node_id
        self._clock = clock
        self._loop = ClaimLoop(
            writer,
            self._claim,
            self._deliver,
            batch=200,
            concurrency=64,
            idle_poll_s=1.0,
            gather_s=0.005,
        )
        writer.on_commit(store.jobs_topic("smpp"), self._loop.wake)
        self.wake = self._loop.wake
        self.run = self._loop.run

    def _claim(self, connection: Connection) -> list[Row]:
        now = self._clock()
        jobs = store.claim_jobs(connection, "smpp", self._node, now, self._lease, 200)
        return claimed_with_records(connection, jobs, self._holder.current.directory, now)

    async def _deliver(self, job: Row) -> None:
        bind = self._binds.receiver(job.application)
        error = "no receiver bound"
        if bind is not None:
            try:
                response = await bind.connection.request("deliver_sm", **deliver_fields(job))
                if response.status == codec.ESME_ROK:
                    done = store.finished(
                        job.id, "delivered", self._clock(), job.attempts + 1, None
                    )
                    await self._writer.write(
                        lambda c: store.record_outcomes(c, [done], []), urgent=False
                    )
                    return
                error = codec.status_name(response.status)
            except (ConnectionLost, ResponseTimeout) as failure:
                error = str(failure)
        later = store.again_later(job.id, self._clock() + NOT_BOUND_RETRY, job.attempts + 1, error)
        await self._writer.write(lambda c: store.record_outcomes(c, [], [later]), urgent=False)


def deliver_fields(job: Row) -> dict:
    record = job.record
    if job.kind == "status":
        status = Status(int(record["StatusCode"]))
        state, stat = RECEIPT_STATES.get(status, (5, "UNDELIV"))
        text = (
            f"id:{record['MessageId']} sub:001 dlvrd:{'001' if state == 2 else '000'} "
            f"submit date:{_smpp_date(record.get('TimeSubmitted'))} "
            f"done date:{_smpp_date(record.get('DeliveryTime'))} stat:{stat} "
            f"err:{'000' if state == 2 else '001'} text:{(record.get('Message') or '')[:20]}"
        )
        return {
            "source_addr": record["To"],
            "source_addr_ton": 1,
            "source_addr_npi": 1,
            "destination_addr": record.get("From") or "",
            "esm_class": 0x04,
            "short_message": text.encode("latin-1", "replace"),
            "receipted_message_id": record["MessageId"],
            "message_state": state,
        }
    encoded = encode_text(record["Message"], Encoding.AUTO)
    payload = encoded.payload
    fields = {
        "source_addr": record["From"],
        "source_addr_ton": 1,
        "source_addr_npi": 1,
        "destination_addr": record["To"],
        "data_coding": 0 if encoded.alphabet is Alphabet.GSM else 8,
    }
    if len(payload) <= 254:
        return {**fields, "short_message": payload}
    return {**fields, "message_payload": payload}


def _smpp_date(webhook_time: str | None) -> str:
    """'2026-11-25 12:01:00' -> '2611251201' (YYMMDDhhmm)."""
    if not webhook_time:
        return "0000000000"
    digits = "".join(c for c in webhook_time if c.isdigit())
    return digits[2:12]
