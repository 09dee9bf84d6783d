"""`POST /simulator/{carrier}/mo` on the admin listener: the built-in SMSC simulator of a
carrier with `simulator:` set sends gatewayd a mobile-originated message, as a handset would
through a real SMSC. It lets the demo show incoming messages and STOP; real carriers have no
such door. The answer comes once gatewayd has acknowledged (so stored) the deliver_sm."""

import re
from typing import TYPE_CHECKING

from gatewayd.core.encoding import (
    DATA_CODING_GSM,
    DATA_CODING_UCS2,
    GSM_SINGLE,
    GSM_UNITS,
    UCS2_SINGLE,
)
from gatewayd.core.result_codes import Result
from gatewayd.protocols.http.admin_auth import admin_token_accepted
from gatewayd.protocols.http.api_fields import FieldError, read_fields, text_field
from gatewayd.protocols.http.messages import Request, Response
from gatewayd.protocols.http.routing import Router
from gatewayd.protocols.smpp import codec
from gatewayd.protocols.smpp.connection import ConnectionLost, ResponseTimeout

if TYPE_CHECKING:
    from gatewayd.daemon import Runtime

_NUMBER = re.compile(r"^\+?([0-9]{3,15})$")


class SimulatorApi:
    def __init__(self, runtime: "Runtime") -> None:
        self.runtime = runtime

    def add_routes(self, router: Router) -> None:
        router.add("/simulator/{carrier}/mo", ["POST"], self.mobile_originated)

    async def mobile_originated(self, request: Request) -> Response:
        if not admin_token_accepted(self.runtime.holder.current.config, request):
            return Response.error(401, Result.INVALID_API_KEY, "admin token required")
        try:
            carrier = request.params["carrier"]
            simulator = self._simulator(carrier)
            fields = read_fields(request, {"from", "to", "text"})
            sender, recipient = _number(fields, "from"), _number(fields, "to")
            data_coding, short_message = one_sms(_required(fields, "text"))
        except FieldError as error:
            return Response.error(error.status, error.result, error.detail)
        try:
            status = await simulator.inject_mo(
                sender, recipient, short_message, data_coding=data_coding
            )
        except (ConnectionLost, ResponseTimeout) as error:
            return Response.error(503, Result.INTERNAL_ERROR, f"{carrier}: {error}")
        answer = {"carrier": carrier, "from": sender, "to": recipient}
        if status != codec.ESME_ROK:
            detail = f"gatewayd answered {codec.status_name(status)}"
            return Response.error(502, Result.INTERNAL_ERROR, detail)
        return Response.json({**answer, "acknowledged": True})

    def _simulator(self, carrier: str):
        carriers = self.runtime.carriers
        simulator = carriers.simulators.get(carrier) if carriers is not None else None
        if simulator is None:
            raise FieldError(
                Result.NOT_FOUND, f"no carrier {carrier!r} with simulator: set", status=404
            )
        return simulator


def one_sms(text: str) -> tuple[int, bytes]:
    """(data_coding, short_message) of `text` as one SMS: GSM when it can be, else UCS-2."""
    if all(char in GSM_UNITS for char in text):
        septets = b"".join(GSM_UNITS[char] for char in text)
        if len(septets) <= GSM_SINGLE:
            return DATA_CODING_GSM, septets
    else:
        octets = text.encode("utf-16-be")
        if len(octets) <= 2 * UCS2_SINGLE:
            return DATA_CODING_UCS2, octets
    raise FieldError(
        Result.TOO_MANY_PARTS,
        f"text is longer than one SMS ({GSM_SINGLE} GSM or {UCS2_SINGLE} other characters)",
    )


def _required(fields: dict, name: str) -> str:
    value = text_field(fields, name, 1000)
    if value is None:
        raise FieldError(Result.MISSING_FIELD, name)
    return value


def _number(fields: dict, name: str) -> str:
    match = _NUMBER.match(_required(fields, name).replace(" ", ""))
    if match is None:
        raise FieldError(Result.INVALID_NUMBER, f"{name} must be 3 to 15 digits")
    return match.group(1)
