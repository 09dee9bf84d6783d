"""Pure policy rules: time windows (with DST), API times, rate limits, client address."""

import ipaddress
import json
import re
import uuid
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from gatewayd.config.schema import TimeWindowConfig
from gatewayd.core import recipients
from gatewayd.core.api_times import BadTime, format_api_time, parse_api_time
from gatewayd.core.client_address import allowed_by_whitelist, client_address
from gatewayd.core.ids import new_message_id, normalized_message_id
from gatewayd.core.masking import is_secret_name, mask_body, mask_text, mask_url
from gatewayd.core.rate_limit import FixedWindowLimiter
from gatewayd.core.recipients import TooManyRecipients, check_recipient, split_recipients
from gatewayd.core.time_windows import within_windows

BRUSSELS = ZoneInfo("Europe/Brussels")
OFFICE = [TimeWindowConfig(days=["mon", "tue", "wed", "thu", "fri"], start="08:00", end="20:00")]
NIGHT = [TimeWindowConfig(days=["fri"], start="22:00", end="06:00")]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_office_hours_are_judged_in_local_time_across_dst():
    # Winter: Brussels is UTC+1, so 07:30 UTC is 08:30 local (open).
    assert within_windows(OFFICE, BRUSSELS, utc(2026, 1, 5, 7, 30))
    # Summer: UTC+2, so 06:30 UTC is 08:30 local (open) and 18:30 UTC is 20:30 (closed).
    assert within_windows(OFFICE, BRUSSELS, utc(2026, 7, 6, 6, 30))
    assert not within_windows(OFFICE, BRUSSELS, utc(2026, 7, 6, 18, 30))
    # Saturday is not listed.
    assert not within_windows(OFFICE, BRUSSELS, utc(2026, 7, 11, 10, 0))


def test_a_window_past_midnight_belongs_to_the_day_it_starts():
    friday_night = utc(2026, 7, 10, 21, 0)  # 23:00 Friday in Brussels
    saturday_early = utc(2026, 7, 11, 2, 0)  # 04:00 Saturday
    saturday_night = utc(2026, 7, 11, 21, 0)  # 23:00 Saturday
    assert within_windows(NIGHT, BRUSSELS, friday_night)
    assert within_windows(NIGHT, BRUSSELS, saturday_early)
    assert not within_windows(NIGHT, BRUSSELS, saturday_night)


def test_no_windows_means_always_open_and_24_00_closes_at_midnight():
    assert within_windows([], BRUSSELS, utc(2026, 1, 1, 3, 0))
    late = [TimeWindowConfig(start="18:00", end="24:00")]
    assert late[0].end == time.max
    assert within_windows(late, BRUSSELS, utc(2026, 1, 1, 22, 59))


def test_api_times_in_both_formats_and_the_applications_zone():
    assert parse_api_time("25-12-2026 09:30", BRUSSELS) == utc(2026, 12, 25, 8, 30)
    assert parse_api_time("2026-12-25T09:30:00", BRUSSELS) == utc(2026, 12, 25, 8, 30)
    assert parse_api_time("2026-12-25T09:30:00Z", BRUSSELS) == utc(2026, 12, 25, 9, 30)
    assert parse_api_time("2026-12-25T09:30:00+05:00", BRUSSELS) == utc(2026, 12, 25, 4, 30)


def test_api_times_in_a_dst_gap_move_forward_and_nonsense_is_refused():
    # 29-03-2026 02:30 does not exist in Brussels (clocks go 02:00 -> 03:00).
    assert parse_api_time("29-03-2026 02:30", BRUSSELS) == utc(2026, 3, 29, 1, 30)
    for bad in ["31-02-2026 10:00", "tomorrow", "2026-13-01", ""]:
        with pytest.raises(BadTime):
            parse_api_time(bad, BRUSSELS)


def test_answers_and_webhooks_give_times_as_ringring_does_in_the_application_zone():
    assert format_api_time(utc(2026, 7, 1, 10, 0, 5), BRUSSELS) == "2026-07-01 12:00:05"
    assert format_api_time(utc(2026, 12, 1, 10, 0, 5), BRUSSELS) == "2026-12-01 11:00:05"
    assert format_api_time(None, BRUSSELS) is None


def test_the_debug_rate_limit_counts_a_minute_and_says_when_it_resets():
    now = [1000.0]
    limiter = FixedWindowLimiter(30, 60, clock=lambda: now[0])
    decisions = [limiter.hit("shop") for _ in range(31)]
    assert [d.allowed for d in decisions] == [True] * 30 + [False]
    assert (decisions[0].remaining, decisions[29].remaining) == (29, 0)
    assert dict(decisions[30].headers())["Retry-After"] == "60"
    assert limiter.hit("other").allowed, "limits are per application"
    now[0] += 45
    assert limiter.hit("shop").reset_s == 15
    now[0] += 15
    assert limiter.hit("shop").allowed


def test_forwarded_for_counts_only_from_trusted_proxies():
    proxies = [ipaddress.ip_network("10.0.0.0/8")]
    assert str(client_address("10.1.1.1", "198.51.100.7", proxies)) == "198.51.100.7"
    assert str(client_address("203.0.113.9", "198.51.100.7", proxies)) == "203.0.113.9"
    spoofed = client_address("10.1.1.1", "198.51.100.7, 203.0.113.66, 10.2.2.2", proxies)
    assert str(spoofed) == "203.0.113.66", "the rightmost untrusted hop is the client"


def test_whitelists_match_ipv4_ipv6_and_mapped_addresses():
    whitelist = [ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("2001:db8::/32")]
    assert allowed_by_whitelist(ipaddress.ip_address("198.51.100.200"), whitelist)
    assert allowed_by_whitelist(ipaddress.ip_address("2001:db8::1"), whitelist)
    assert allowed_by_whitelist(ipaddress.ip_address("::ffff:198.51.100.1"), whitelist)
    assert not allowed_by_whitelist(ipaddress.ip_address("192.0.2.1"), whitelist)
    assert allowed_by_whitelist(ipaddress.ip_address("192.0.2.1"), [])


def test_recipients_are_split_normalized_and_checked():
    assert split_recipients(" 32470000001, ,32470000002 ") == ["32470000001", "32470000002"]
    with pytest.raises(TooManyRecipients):
        split_recipients(",".join(["32470000001"] * 1001))
    good = check_recipient("+32 470 00 00 01")
    assert (good.msisdn, good.country, good.valid) == ("32470000001", "BE", True)
    assert not check_recipient("12ab").valid
    assert not check_recipient("3212").valid
    assert check_recipient("32000000000").problem == "not a valid phone number"


def test_the_recipient_cache_stays_bounded_in_entries_and_in_their_length():
    """A soak sending to ever new numbers must not grow the daemon, nor must huge entries."""
    for number in range(recipients.CACHED_ENTRIES + 100):
        assert check_recipient(f"3247{number:07d}").valid
    assert recipients._check_short.cache_info().currsize == recipients.CACHED_ENTRIES
    recipients._check_short.cache_clear()
    assert not check_recipient("3" * 1_000_000).valid
    assert not check_recipient(" 32 470 00 00 01 " * 2).valid, "34 characters"
    assert recipients._check_short.cache_info().currsize == 0


def test_message_ids_are_unique_time_ordered_guids_that_uuid_parsers_take():
    ids = [new_message_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(
        re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", i)
        for i in ids
    )
    assert all(str(uuid.UUID(i)) == i and uuid.UUID(i).version == 7 for i in ids)
    assert ids[0][:13] <= ids[-1][:13]
    ms = int(ids[0].replace("-", "")[:12], 16)
    assert abs(ms / 1000 - datetime.now(UTC).timestamp()) < 60


def test_a_message_id_is_taken_with_or_without_dashes_in_any_case():
    guid = "01a2357a-cdc9-70ed-9383-ebcd4152833d"
    for given in [guid, guid.upper(), guid.replace("-", ""), f"  {guid.replace('-', '').upper()} "]:
        assert normalized_message_id(given) == guid
    old = "01a2357acdc9aabbccddeeff00112233"
    assert normalized_message_id(old) == "01a2357a-cdc9-aabb-ccdd-eeff00112233"
    for bad in ["", "abc", guid[:-1], guid + "0", guid.replace("-", "", 1), "g" * 32]:
        assert normalized_message_id(bad) is None


def test_secrets_are_masked_in_bodies_urls_and_text_of_any_shape():
    key = "0123456789abcdef"
    assert key not in mask_body(f'{{"apiKey":"{key}","to":"32470000001"}}'.encode())
    assert key not in mask_body(f'{{"apiKey":"{key}","to":'.encode()), "JSON cut short"
    assert key not in mask_body(f"to=32470000001&api_key={key}".encode())
    nested = mask_body(b'{"password": "hunter2hunter2", "more": [{"token": "abcdefghijkl"}]}')
    assert "hunter2hunter2" not in nested and "abcdefghijkl" not in nested
    assert mask_body(b'{"message": "a=b", "to": "3247"}') == '{"message": "a=b", "to": "3247"}'
    url = mask_url(f"https://shop:{key}@hooks.example/status?token={key}&a=1")
    assert key not in url and url.startswith("https://shop:0123") and url.endswith("&a=1")
    assert mask_text(f"GET /x?apiKey={key}&y=2") == "GET /x?apiKey=0123************&y=2"


SECRET_NAMES = [
    "clientSecret",
    "client_secret",
    "auth_token",
    "access-token",
    "password",
    "passwd",
    "secret",
    "signature",
    "sig",
    "apikey",
    "api_key",
    "ApiKey",
    "X-Api-Key",
    "X-Hub-Signature",
    "webhook_sig",
]


def test_secrets_are_masked_by_a_word_their_field_name_contains_in_any_case():
    value = "0123456789abcdef"
    names = SECRET_NAMES + [name.upper() for name in SECRET_NAMES]
    names += [name.lower() for name in SECRET_NAMES]
    for name in names:
        assert is_secret_name(name), name
        assert value not in mask_body(json.dumps({name: value, "to": "3247"}).encode()), name
        assert value not in mask_body(f'{{"{name}": "{value}", "to": '.encode()), name
        assert value not in mask_body(f"to=3247&{name}={value}".encode()), name
    hook = f"https://shop:{value}@hooks.example/status?access_token={value}&sig={value}&a=1"
    masked = json.loads(mask_body(json.dumps({"statusUrl": hook, "message": "[://"}).encode()))
    assert value not in masked["statusUrl"], "secrets inside a URL that is not one itself"
    assert masked["statusUrl"].endswith("&a=1") and masked["message"] == "[://"
    for name in ["to", "message", "senderId", "design", "signal", "messageEncoding", "from"]:
        assert not is_secret_name(name), name
        assert mask_body(json.dumps({name: value}).encode()) == json.dumps({name: value})
        assert mask_text(f"{name}={value}") == f"{name}={value}"
