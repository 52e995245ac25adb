"""USSD screens: what a composed screen (a text and its choices) becomes on a feature phone.

At most 182 characters a screen (Africa's Talking's limit). A screen that does not fit is paged, never
cut: its text, then its choices, fill pages that end with "99. >>". Apart from the gateway
(:mod:`sika.chat.ussd`) so that a flow can ask whether its screen fits on one without importing the
dialog that runs it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MORE", "PAGES_MAX", "SCREEN_CHARS_MAX", "pages"]

SCREEN_CHARS_MAX = 182
# Pages one screen may take; a longer text is cut on its last page (no flow says that much).
PAGES_MAX = 12
MORE = "99"
_FOOTER = f"\n{MORE}. >>"
_CON, _END = "CON ", "END "
_ELLIPSIS = "…"


def pages(last: dict[str, Any]) -> list[str]:
    """A composed screen as USSD screens of at most 182 characters: one when it fits, else pages of
    its text then its choices, each but the last ending with "99. >>"."""
    closing = _END if last["end"] else _CON
    text = str(last["text"]).strip()
    lines = [f"{i + 1}. {title}" for i, title in enumerate(str(c) for c in last["choices"])]
    whole = "\n".join(([text] if text else []) + lines)
    if len(closing) + len(whole) <= SCREEN_CHARS_MAX:
        return [closing + whole]
    room = SCREEN_CHARS_MAX - len(_CON) - len(_FOOTER)
    bodies = [""]

    def put(piece: str, separator: str) -> None:
        if bodies[-1] and len(bodies[-1]) + len(separator) + len(piece) > room:
            bodies.append("")
        bodies[-1] += (separator if bodies[-1] else "") + piece

    for line in (" ".join(line.split()) for line in text.split("\n")):
        if bodies[-1] and line and len(line) <= room and len(bodies[-1]) + 1 + len(line) > room:
            bodies.append("")  # a line that fits on a page of its own is not cut in two
        words = [word[i:i + room] for word in line.split() for i in range(0, len(word), room)]
        for position, word in enumerate(words):
            put(word, " " if position else "\n")
    for line in lines:
        put(_shorten(line, room), "\n")
    if len(bodies) > PAGES_MAX:
        bodies = [*bodies[:PAGES_MAX - 1], bodies[PAGES_MAX - 1][:room - 1].rstrip() + _ELLIPSIS]
    screens = [_CON + body + _FOOTER for body in bodies[:-1]] + [closing + bodies[-1]]
    assert all(len(screen) <= SCREEN_CHARS_MAX for screen in screens), screens
    return screens


def _shorten(text: str, limit: int) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + _ELLIPSIS
