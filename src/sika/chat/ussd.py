"""USSD, as Africa's Talking calls it: the same flows as numbered menus on a feature phone.

Each request carries the whole session's inputs joined by ``*`` (empty at first); the newest input is
the last part. The answer is ``CON <screen>`` (wait for input) or ``END <screen>`` (close), at most
182 characters. The conversation is keyed by ``sessionId``. A gateway that repeats a request (same
session, same number of inputs) gets the same screen again and nothing runs twice. Choices that do
not fit on one screen are paged ("99 More").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sika import phones
from sika.chat.dialog import Dialog
from sika.chat.i18n import translator
from sika.chat.messages import Inbound, InboundKind, Reply
from sika.errors import SikaError

__all__ = ["SCREEN_CHARS_MAX", "UssdGateway", "UssdRequest", "unavailable"]

SCREEN_CHARS_MAX = 182
SESSION_ID_CHARS_MAX = 128
TEXT_CHARS_MAX = 1_000
MORE = "99"
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
        conversations = self._dialog.conversations
        state = conversations.load("ussd", session)
        seen = int(state.channel.get("inputs", -1))
        if seen == len(inputs) and "screen" in state.channel:
            return str(state.channel["screen"])  # the gateway repeated itself
        latest = inputs[-1].strip() if inputs else ""
        page = int(state.channel.get("page", 0))
        if latest == MORE and state.channel.get("more"):
            screen = self._screen(state.channel["last"], page + 1)
            self._remember(session, msisdn, inputs=len(inputs), screen=screen, page=page + 1,
                           last=state.channel["last"])
            return screen
        inbound = Inbound(channel="ussd", msisdn=msisdn, kind=InboundKind.TEXT,
                          message_id=f"{session}:{len(inputs)}", text=latest if inputs else "menu")
        turn = self._dialog.handle(inbound, session_key=session)
        last = _compose(turn.replies)
        screen = self._screen(last, 0)
        self._remember(session, msisdn, inputs=len(inputs), screen=screen, page=0, last=last)
        return screen

    def _remember(self, session: str, msisdn: str, *, inputs: int, screen: str, page: int,
                  last: dict[str, Any]) -> None:
        conversations = self._dialog.conversations
        state = conversations.load("ussd", session)
        state.channel = {"inputs": inputs, "screen": screen, "page": page, "last": last,
                         "more": screen.rstrip().endswith(f"{MORE}. >>")}
        conversations.save("ussd", session, msisdn, state)

    @staticmethod
    def _screen(last: dict[str, Any], page: int) -> str:
        """Fit a composed screen into 182 characters, paging its choices."""
        prefix = "END " if last["end"] else "CON "
        text = str(last["text"])
        choices = [str(c) for c in last["choices"]]
        lines = [f"{i + 1}. {title}" for i, title in enumerate(choices)]
        budget = SCREEN_CHARS_MAX - len(prefix)
        if not lines:
            return prefix + _shorten(text, budget)
        # Keep the question short enough that at least two choices fit, then page the rest.
        head = _shorten(text, max(budget // 2, budget - sum(len(line) + 1 for line in lines)))
        room = budget - len(head)
        pages: list[list[str]] = [[]]
        for line in lines:
            used = sum(len(entry) + 1 for entry in pages[-1])
            if used + len(line) + 1 > room - (len(MORE) + 3) and pages[-1]:
                pages.append([])
            pages[-1].append(line)
        page = min(page, len(pages) - 1)
        body = "\n".join(pages[page])
        more = f"\n{MORE}. >>" if page < len(pages) - 1 else ""
        return (prefix + head + "\n" + body + more)[:SCREEN_CHARS_MAX]


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
    """The screen for a session we cannot serve (bad request, unexpected failure)."""
    t = translator(language)
    return "END " + t("Sorry, this service is not available. Please try again.")
