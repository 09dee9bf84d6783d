"""Choosing how a text travels: GSM 03.38 (Text), UCS-2 (Unicode), or Auto.

Auto replaces characters the GSM alphabet lacks by faithful GSM equivalents (curly quotes,
dashes, ellipsis, odd spaces, accented letters) and falls back to UCS-2 only when something
cannot be replaced. Text does the same replacements and refuses what is left.
"""

import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from gatewayd.core.gsm import BASIC_CODE, ESCAPE, EXTENSION, TRANSLITERATION

GSM_SINGLE, GSM_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67
DATA_CODING_GSM, DATA_CODING_UCS2 = 0x00, 0x08


class Encoding(StrEnum):
    TEXT = "text"
    UNICODE = "unicode"
    AUTO = "auto"


class Alphabet(StrEnum):
    """What the API and webhooks report as MessageEncoding."""

    GSM = "TEXT"
    UCS2 = "UNICODE"


class NotEncodable(ValueError):
    def __init__(self, characters: list[str]) -> None:
        shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in characters[:5])
        super().__init__(f"not in the GSM alphabet: {shown}")
        self.characters = characters


_ENCODING_NAMES = {
    "text": Encoding.TEXT,
    "0": Encoding.TEXT,
    "gsm": Encoding.TEXT,
    "unicode": Encoding.UNICODE,
    "8": Encoding.UNICODE,
    "ucs2": Encoding.UNICODE,
    "auto": Encoding.AUTO,
}


def parse_encoding(value: object) -> Encoding:
    """'Text', 'Unicode', 'Auto' in any case, or 0 / 8 (also as strings)."""
    found = _ENCODING_NAMES.get(str(value).strip().lower())
    if found is None:
        raise ValueError(f"{value!r} is not an encoding (Text, Unicode, Auto, 0 or 8)")
    return found


@dataclass(frozen=True)
class EncodedText:
    """A text ready to be split into SMS parts."""

    text: str
    alphabet: Alphabet
    units: tuple[bytes, ...]
    """One entry per character: 1 or 2 septets (GSM, unpacked) or 2 or 4 bytes (UCS-2)."""

    @property
    def data_coding(self) -> int:
        return DATA_CODING_GSM if self.alphabet is Alphabet.GSM else DATA_CODING_UCS2

    @property
    def number_of_chars(self) -> int:
        """Septets (extension characters count two) or UTF-16 code units (pairs count two)."""
        unit = 1 if self.alphabet is Alphabet.GSM else 2
        return sum(len(u) for u in self.units) // unit

    @property
    def payload(self) -> bytes:
        return b"".join(self.units)


GSM_UNITS: dict[str, bytes] = {
    **{char: bytes((ESCAPE, code)) for char, code in EXTENSION.items()},
    **{char: bytes((code,)) for char, code in BASIC_CODE.items()},
}
"""Each character of the GSM alphabet and its septets: one, or escape + one (extension)."""
_TRANSLITERATION_TABLE = str.maketrans(TRANSLITERATION)


def transliterate(text: str) -> str:
    return text.translate(_TRANSLITERATION_TABLE)


def not_in_gsm(text: str) -> list[str]:
    """The characters of `text` the GSM alphabet cannot carry, in order, once each."""
    return list(dict.fromkeys(c for c in text if c not in GSM_UNITS))


def encode_text(text: str, encoding: Encoding) -> EncodedText:
    if encoding is Encoding.UNICODE:
        return _ucs2(text)
    # NFC first: 'e' + combining acute is 'é', which GSM has.
    replaced = transliterate(unicodedata.normalize("NFC", text))
    missing = not_in_gsm(replaced)
    if not missing:
        return EncodedText(replaced, Alphabet.GSM, tuple(map(GSM_UNITS.__getitem__, replaced)))
    if encoding is Encoding.TEXT:
        raise NotEncodable(missing)
    return _ucs2(text)


def _ucs2(text: str) -> EncodedText:
    return EncodedText(text, Alphabet.UCS2, tuple(c.encode("utf-16-be") for c in text))
