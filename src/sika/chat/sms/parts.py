"""How a text travels as SMS: its encoding, and the parts it is split into.

A message whose every character is in the GSM 03.38 alphabet (its basic table, or its extension table
at two septets each: ``^{}\\[~]|€`` and the form feed) is sent as GSM-7: 160 septets in one SMS, 153 per
part when concatenated (the user data header takes 7). Anything else (Arabic, Cyrillic, most accented
capitals, emoji) is sent as UCS-2: 70 UTF-16 units in one SMS, 67 per part when concatenated. A part
never ends in the middle of an extension pair or a surrogate pair, and prefers to end at a space.

French, English, Spanish, Italian and Portuguese mostly fit GSM-7 ("é", "è", "à", "ù", "ì", "ò", "Ç",
"ñ" are in it; "ç" lower-case is not, nor "ê", "ô", "â"). One such letter would make the whole message
UCS-2, less than half as many characters a part: :func:`fold` writes them as their nearest GSM-7
letter ("ç" as "c", "ô" as "o", typographic quotes as plain ones), as operators' "smart encoding" does,
when that makes the whole text GSM-7. Arabic and Russian stay UCS-2.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GSM7", "PARTS_MAX", "UCS2", "Parts", "fold", "split"]

GSM7 = "gsm7"
UCS2 = "ucs2"
# Longer texts are cut (with "…") to this many parts: an operator bills each part.
PARTS_MAX = 6
_SINGLE = {GSM7: 160, UCS2: 70}
_CONCATENATED = {GSM7: 153, UCS2: 67}
_ELLIPSIS = "..."

_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENSION = set("\f^{}\\[~]|€")


# Latin letters and punctuation outside GSM 03.38, as their nearest GSM-7 character(s).
_FOLDS = str.maketrans({
    "ç": "c", "â": "a", "ê": "e", "î": "i", "ô": "o", "û": "u", "ë": "e", "ï": "i", "ÿ": "y", "á": "a",
    "í": "i", "ó": "o", "ú": "u", "ã": "a", "õ": "o", "À": "A", "Â": "A", "È": "E", "Ê": "E", "Ë": "E",
    "Î": "I", "Ï": "I", "Ô": "O", "Ù": "U", "Û": "U", "Á": "A", "Í": "I", "Ó": "O", "Ú": "U", "Ã": "A",
    "Õ": "O", "œ": "oe", "Œ": "OE", "’": "'", "‘": "'", "“": '"', "”": '"', "«": '"', "»": '"',
    "–": "-", "—": "-", "…": "...", "\u00a0": " ", "\u202f": " ", "•": "*",
})


@dataclass(frozen=True, slots=True)
class Parts:
    encoding: str
    texts: tuple[str, ...]
    cut: bool  # the text was longer than PARTS_MAX parts and was shortened

    @property
    def count(self) -> int:
        return len(self.texts)

    @property
    def text(self) -> str:
        return "".join(self.texts)


def _units(char: str, encoding: str) -> int:
    if encoding == GSM7:
        return 2 if char in _EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1  # a character beyond the BMP is a UTF-16 surrogate pair


def encoding_of(text: str) -> str:
    return GSM7 if all(c in _BASIC or c in _EXTENSION for c in text) else UCS2


def fold(text: str) -> str:
    """``text`` in GSM-7 when a few Latin letters are all that keep it out; else ``text`` unchanged."""
    if encoding_of(text) == GSM7:
        return text
    folded = text.translate(_FOLDS)
    return folded if encoding_of(folded) == GSM7 else text


def split(text: str, *, parts_max: int = PARTS_MAX) -> Parts:
    """The parts ``text`` goes out in (one part when it fits a single SMS)."""
    assert parts_max >= 1
    encoding = encoding_of(text)
    if sum(_units(c, encoding) for c in text) <= _SINGLE[encoding]:
        return Parts(encoding, (text,), cut=False)
    size = _CONCATENATED[encoding]
    texts: list[str] = []
    rest = text
    while rest and len(texts) < parts_max:
        part = _take(rest, size, encoding)
        texts.append(part)
        rest = rest[len(part):]
    if not rest:
        return Parts(encoding, tuple(texts), cut=False)
    # Too long: the last part keeps what fits before an ellipsis.
    last = _take(texts[-1] + rest, size - len(_ELLIPSIS), encoding)
    texts[-1] = last.rstrip() + _ELLIPSIS
    return Parts(encoding, tuple(texts), cut=True)


def _take(text: str, size: int, encoding: str) -> str:
    """The longest head of ``text`` within ``size`` units, ending after a space when one is near."""
    used = 0
    end = 0
    for char in text:
        units = _units(char, encoding)
        if used + units > size:
            break
        used += units
        end += 1
    if end == len(text):
        return text
    space = text.rfind(" ", 0, end)
    if space >= end * 3 // 4:  # cut at a word boundary unless that wastes a quarter of the part
        return text[: space + 1]
    return text[:end]
