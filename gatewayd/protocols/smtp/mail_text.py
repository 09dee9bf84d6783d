"""The SMS text of an e-mail: its text/plain part, or its HTML turned into text."""

import email
import email.policy
import html
import re
from email.message import EmailMessage


class NoText(ValueError):
    """The mail has no part that can become an SMS."""


def sms_text(raw: bytes, use_subject: bool) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    if not isinstance(message, EmailMessage):
        raise NoText("not a mail message")
    body = _plain_body(message)
    subject = str(message.get("Subject", "") or "").strip() if use_subject else ""
    text = f"{subject}\n{body}" if subject and body else subject or body
    text = text.strip()
    if not text:
        raise NoText("the mail has no text")
    return text


def _plain_body(message: EmailMessage) -> str:
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except (KeyError, LookupError):
        part = None
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, ValueError):
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", errors="replace")
    if not isinstance(content, str):
        return ""
    if part.get_content_subtype() == "html":
        content = html_to_text(content)
    return re.sub(r"\n{3,}", "\n\n", content.replace("\r\n", "\n")).strip()


def html_to_text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style)\b.*?</\1>", "", markup)
    markup = re.sub(r"(?i)<br\s*/?>|</p\s*>|</div\s*>|</li\s*>|</h[1-6]\s*>", "\n", markup)
    text = html.unescape(re.sub(r"<[^>]+>", "", markup))
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n")]
    return "\n".join(line for line in lines if line)
