"""SMPP address fields for a sender: TON/NPI follow its kind, as carriers expect."""

from datetime import UTC, datetime


def source_address(sender: str | None) -> dict[str, object]:
    """Alphanumeric 5/0, short code 3/0, international 1/1."""
    if not sender:
        return {"source_addr": "", "source_addr_ton": 0, "source_addr_npi": 0}
    if not sender.isdigit():
        return {"source_addr": sender, "source_addr_ton": 5, "source_addr_npi": 0}
    if len(sender) <= 8:
        return {"source_addr": sender, "source_addr_ton": 3, "source_addr_npi": 0}
    return {"source_addr": sender, "source_addr_ton": 1, "source_addr_npi": 1}


def smpp_time(moment: datetime) -> str:
    """SMPP absolute time 'YYMMDDhhmmss000+' in UTC (tenths 0, offset 00 quarter hours)."""
    return moment.astimezone(UTC).strftime("%y%m%d%H%M%S") + "000+"
