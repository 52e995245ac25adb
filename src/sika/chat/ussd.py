"""USSD, as Africa's Talking calls it: the same flows as numbered menus on a feature phone.

Each request carries the whole session's inputs joined by ``*`` (empty at first); the newest input is
the last part. The answer is ``CON <screen>`` (wait for input) or ``END <screen>`` (close), at most
182 characters. The conversation is keyed by ``sessionId``. A gateway that repeats a request (same
session, same number of inputs) gets the same screen again and nothing runs twice.

A screen that does not fit in 182 characters is paged, never cut: its text, then its choices, fill
pages that end with "99. >>"; 99 shows the next page. A closing text (``END``) that needs several
pages goes out as ``CON`` pages (any answer shows the next) and closes on its last page.

A dial string that carries inputs (``*155*1#`` arrives as a first request with text ``1``) is read
as the menu followed by those inputs, one after the other, as if typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sika import phones
from sika.chat.dialog import Dialog
from sika.chat.i18n import translator
from sika.chat.messages import Inbound, InboundKind, Reply
from sika.errors import SikaError

__all__ = ["SCREEN_CHARS_MAX", "UssdGateway", "UssdRequest", "pages", "unavailable"]

SCREEN_CHARS_MAX = 182
SESSION_ID_CHARS_MAX = 128
TEXT_CHARS_MAX = 1_000
# Inputs a first request may carry in its dial string (``*155*1*2#``).
DIALLED_INPUTS_MAX = 8
# Pages one screen may take; a longer text is cut on its last page (no flow says that much).
PAGES_MAX = 12
MORE = "99"
_FOOTER = f"\n{MORE}. >>"
_CON, _END = "CON ", "END "
_ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class UssdRequest:
    session_id: str
    service_code: str
    phone_number: str
    network_code: str
    text: str


class UssdGateway:
    def __init__(self, dialog: Dialog) -> None:
        self._dialog = dialog

    def handle(self, request: UssdRequest) -> str:
        """The screen for this request: ``CON …`` or ``END …``, never longer than 182 characters."""
        session = request.session_id.strip()[:SESSION_ID_CHARS_MAX]
        if not session:
            return unavailable()
        try:
            msisdn = phones.normalize(request.phone_number)
        except SikaError:
            return unavailable()
        inputs = request.text[:TEXT_CHARS_MAX].split("*") if request.text else []
        state = self._dialog.conversations.load("ussd", session)
        seen = int(state.channel.get("inputs", -1))
        if seen == len(inputs) and "screen" in state.channel:
            return str(state.channel["screen"])  # the gateway repeated itself
        latest = inputs[-1].strip() if inputs else ""
        if state.channel.get("more") and (latest == MORE or state.channel["last"]["end"]):
            # The next page of the same screen; a closing text pages on whatever is answered.
            last, page = state.channel["last"], int(state.channel.get("page", 0)) + 1
            return self._remember(session, msisdn, inputs=len(inputs), last=last, page=page)
        if seen < 0 and len(inputs) > 1:
            if len(inputs) > DIALLED_INPUTS_MAX:
                return unavailable()
            # A dial string with inputs: the menu, then each input but the last, as if typed.
            for index, typed in enumerate(["menu", *inputs[:-1]]):
                self._turn(session, msisdn, index, typed)
        elif seen < 0 and inputs:
            self._turn(session, msisdn, 0, "menu")
        last = self._turn(session, msisdn, len(inputs), latest if inputs else "menu")
        return self._remember(session, msisdn, inputs=len(inputs), last=last, page=0)

    def _turn(self, session: str, msisdn: str, index: int, text: str) -> dict[str, Any]:
        """Hand one input to the dialog (its message id names the session and the input's place, so
        a payment confirmed twice moves money once); the screen it composes."""
        inbound = Inbound(channel="ussd", msisdn=msisdn, kind=InboundKind.TEXT,
                          message_id=f"{session}:{index}", text=text.strip())
        return _compose(self._dialog.handle(inbound, session_key=session).replies)

    def _remember(self, session: str, msisdn: str, *, inputs: int, last: dict[str, Any], page: int) -> str:
        """Store where the session is (never what was typed), and the screen to answer."""
        screens = pages(last)
        page = min(page, len(screens) - 1)
        conversations = self._dialog.conversations
        state = conversations.load("ussd", session)
        state.channel = {"inputs": inputs, "screen": screens[page], "page": page, "last": last,
                         "more": page < len(screens) - 1}
        conversations.save("ussd", session, msisdn, state)
        return screens[page]


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


def _compose(replies: list[Reply]) -> dict[str, Any]:
    """One USSD screen from the engine's replies: up to and including the first that ends the flow."""
    texts: list[str] = []
    for reply in replies:
        texts.append(reply.text)
        if reply.end:
            return {"text": "\n".join(texts), "choices": [], "end": True}
    last = replies[-1] if replies else Reply(text="")
    return {"text": "\n".join(texts), "choices": [c.title for c in last.choices], "end": False}


def _shorten(text: str, limit: int) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + _ELLIPSIS


def unavailable(language: str | None = None) -> str:
    """The screen for a session we cannot serve (bad request, refused gateway, unexpected failure)."""
    t = translator(language)
    return "END " + t("Sorry, this service is not available. Please try again.")
