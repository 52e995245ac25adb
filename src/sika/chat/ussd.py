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
from sika.chat.screens import MORE, SCREEN_CHARS_MAX, pages
from sika.errors import SikaError

__all__ = ["SCREEN_CHARS_MAX", "UssdGateway", "UssdRequest", "pages", "unavailable"]

SESSION_ID_CHARS_MAX = 128
TEXT_CHARS_MAX = 1_000
# Inputs a first request may carry in its dial string (``*155*1*2#``).
DIALLED_INPUTS_MAX = 8


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


def _compose(replies: list[Reply]) -> dict[str, Any]:
    """One USSD screen from the engine's replies: up to and including the first that ends the flow."""
    texts: list[str] = []
    for reply in replies:
        texts.append(reply.text)
        if reply.end:
            return {"text": "\n".join(texts), "choices": [], "end": True}
    last = replies[-1] if replies else Reply(text="")
    return {"text": "\n".join(texts), "choices": [c.title for c in last.choices], "end": False}


def unavailable(language: str | None = None) -> str:
    """The screen for a session we cannot serve (bad request, refused gateway, unexpected failure)."""
    t = translator(language)
    return "END " + t("Sorry, this service is not available. Please try again.")
