"""The records the API, polling and webhooks hand out, with RingRing's field names."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gatewayd.core.api_times import format_api_time
from gatewayd.core.result_codes import Result
from gatewayd.core.statuses import Status


def status_record(message: Mapping[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """A message's status: StatusMessage answers, Status polling and status webhooks.

    TimeScheduled is when the message was accepted unless it was scheduled: RingRing's
    default ("current date and time", its C# client says), as its webhook article shows."""
    status = Status(message["status"])
    scheduled = message.get("time_scheduled") or message.get("time_created")
    return {
        "MessageId": message["id"],
        "Reference": message.get("reference"),
        "StatusCode": status.code,
        "StatusDescription": message.get("status_description") or status.description,
        "TimeScheduled": format_api_time(scheduled, zone),
        "TimeSubmitted": format_api_time(message.get("time_submitted"), zone),
        "DeliveryTime": format_api_time(message.get("time_done"), zone),
        "Country": message.get("country"),
        "ResultCode": int(Result.OK),
        "ResultDescription": Result.OK.description,
        "From": message["sender"],
        "To": message["recipient"],
        "Message": message["body"],
        "MessageEncoding": message["encoding"],
        "NumberOfParts": message["number_of_parts"],
        "NumberOfChars": message["number_of_chars"],
    }


def derived_status_record(
    message: Mapping[str, Any],
    status: int,
    description: str,
    reached: datetime,
    zone: ZoneInfo,
) -> dict[str, Any]:
    """The record of `message` as it was when it reached `status` at `reached`: what a
    status change changes is given, the rest is the message's own. A message is submitted
    at most once (a requeue takes back only one no carrier had), so TimeSubmitted is the
    message's unless the status is a waiting one."""
    status_ = Status(status)
    waiting = status_ in (Status.SCHEDULED, Status.QUEUED)
    return status_record(
        {
            **message,
            "status": status,
            "status_description": description,
            "time_submitted": None if waiting else message.get("time_submitted"),
            "time_done": reached if status_.final else None,
        },
        zone,
    )


def incoming_record(incoming: Mapping[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    return {
        "MessageId": incoming["id"],
        "Reference": incoming.get("reference"),
        "From": incoming["sender"],
        "To": incoming["recipient"],
        "Message": incoming["body"],
        "Country": incoming.get("country"),
        "TimeReceived": format_api_time(incoming["time_received"], zone),
    }
