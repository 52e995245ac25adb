"""A :class:`~sika.chat.messages.Reply` as the Cloud API's message bodies, within Meta's limits.

* no choices: text messages of at most 4,096 characters, a long text split at paragraph, line or word
  boundaries;
* 1 to 3 choices: one interactive ``button`` message (titles of at most 20 characters);
* 4 or more choices: interactive ``list`` messages of at most 10 rows each (titles 24, descriptions 72
  characters); the second and later lists carry their page ("2/3") as body, so every option stays one
  tap away (the dialog also takes a typed number);
* an interactive body holds at most 1,024 characters: the start of a longer text goes first, as text.

A turn's replies go out as few messages as fit (:func:`render_turn`): an answer followed by the next
question (the menu, say) becomes one interactive message whose body holds both. Each message is a
notification on the person's phone, and Meta's throughput cap (80 messages a second per number by
default, 1,000 at most) counts messages, not turns.

Titles too long are shortened with "…", and made unique (Meta refuses two equal titles). Outside the
24-hour customer-service window only a template may be sent: :func:`render_template`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

import sika.chat.whatsapp._limits as limit
from sika.chat.messages import Choice, Reply
from sika.chat.whatsapp._limits import width

__all__ = ["CHOICES_MAX", "DEFAULT_LIST_BUTTON", "combine", "render", "render_template", "render_turn",
           "split_text"]

DEFAULT_LIST_BUTTON = "Menu"
# A reply that offers more options than this is a programming error, not a long menu.
CHOICES_MAX = 100
ELLIPSIS = "…"
_RLM = "\u200f"
# Body of an interactive message whose reply has no text: Meta requires one.
_EMPTY_BODY = "…"
# Titles and lines _shorten remembers.
SHORTENED_CACHE_MAX = 4_096
_BLANKS = re.compile(r"\s+")
_NEWLINE_RUN = re.compile(r"\s*[\n\r\t\v\f]\s*")


def render(to: str, reply: Reply, *, list_button: str = DEFAULT_LIST_BUTTON) -> list[dict[str, Any]]:
    """The bodies to POST to ``/{phone_number_id}/messages``, in order, for one reply."""
    recipient = _recipient(to)
    text = reply.text.strip()
    if not reply.choices:
        return [_text_body(recipient, chunk) for chunk in split_text(text, limit.TEXT_BODY, rtl=reply.rtl)]
    _check_choices(reply.choices)
    lead, body = _lead_and_body(text, rtl=reply.rtl)
    bodies = [_text_body(recipient, chunk) for chunk in lead]
    if len(reply.choices) <= limit.BUTTONS_MAX:
        bodies.append(_buttons(recipient, body, reply.choices))
        return bodies
    pages = [reply.choices[start:start + limit.LIST_ROWS_MAX]
             for start in range(0, len(reply.choices), limit.LIST_ROWS_MAX)]
    label = _shorten(reply.button or list_button, limit.LIST_BUTTON) or DEFAULT_LIST_BUTTON
    for number, page in enumerate(pages, start=1):
        page_body = body if number == 1 else f"{number}/{len(pages)}"
        bodies.append(_list(recipient, page_body, label, page))
    return bodies


def render_turn(to: str, replies: Sequence[Reply], *,
                list_button: str = DEFAULT_LIST_BUTTON) -> list[dict[str, Any]]:
    """The bodies for a whole turn, in order: :func:`render` of each of :func:`combine`'s replies."""
    return [body for reply in combine(replies) for body in render(to, reply, list_button=list_button)]


def combine(replies: Sequence[Reply]) -> list[Reply]:
    """``replies`` with the text-only replies just before a question (a reply with choices) folded
    into its body, a blank line apart, as many as fit in an interactive body (1,024 units) and read in
    the same direction; the others stay messages of their own, uncut and in order."""
    combined: list[Reply] = []
    for reply in replies:
        text = reply.text.strip()
        while reply.choices and combined and not combined[-1].choices and combined[-1].rtl == reply.rtl:
            joined = f"{combined[-1].text.strip()}\n\n{text}".strip()
            if width(joined) > (limit.INTERACTIVE_BODY - 1 if reply.rtl else limit.INTERACTIVE_BODY):
                break
            combined.pop()
            text = joined
        combined.append(reply if text == reply.text.strip() else
                        Reply(text=text, choices=reply.choices, button=reply.button, end=reply.end,
                              rtl=reply.rtl))
    return combined


def render_template(to: str, name: str, language: str, params: Sequence[str]) -> dict[str, Any]:
    """An approved template message (the only kind allowed outside the 24-hour window)."""
    assert 0 < len(name) <= limit.TEMPLATE_NAME and name.isascii(), name
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    if params:
        template["components"] = [{"type": "body", "parameters": [
            {"type": "text", "text": _template_param(param)} for param in params]}]
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": _recipient(to),
            "type": "template", "template": template}


def split_text(text: str, limit_units: int, *, rtl: bool = False) -> list[str]:
    """``text`` in chunks of at most ``limit_units`` (UTF-16 units), cut where a reader expects it."""
    assert limit_units >= 16
    chunks: list[str] = []
    rest = text.strip()
    budget = limit_units - 1 if rtl else limit_units  # room for the right-to-left mark we may add
    while rest:
        if width(rest) <= budget:
            chunk, rest = rest, ""
        else:
            cut = _cut(rest, budget)
            chunk, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if rtl and not chunk.startswith(_RLM):
            chunk = _RLM + chunk
        if chunk.strip():
            chunks.append(chunk)
    return chunks


def _cut(text: str, budget: int) -> int:
    """Where to cut ``text`` so that the first part fits ``budget``: a paragraph, line or word end."""
    fits, used = 0, 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > budget:
            break
        fits = index + 1
    window = text[:fits]
    for separator in ("\n\n", "\n", " "):
        at = window.rfind(separator)
        if at >= fits // 2:
            return at + len(separator)
    return max(fits, 1)


def _lead_and_body(text: str, *, rtl: bool) -> tuple[list[str], str]:
    """Text messages to send first, and the interactive body (at most 1,024 units) after them."""
    if not text:
        return [], _EMPTY_BODY
    budget = limit.INTERACTIVE_BODY - 1 if rtl else limit.INTERACTIVE_BODY
    if width(text) <= budget:
        return [], text
    start = _tail(text, budget)
    body = text[start:].strip()
    if rtl and not body.startswith(_RLM):
        body = _RLM + body
    return split_text(text[:start], limit.TEXT_BODY, rtl=rtl), body


def _tail(text: str, budget: int) -> int:
    """Where the longest ending of ``text`` that fits ``budget`` starts: a paragraph, line or word."""
    for separator in ("\n\n", "\n", " "):
        start, at = None, len(text)
        while (at := text.rfind(separator, 0, at)) > 0:
            if width(text[at + len(separator):].strip()) > budget:
                break
            start = at + len(separator)
        if start is not None and text[start:].strip():
            return start
    used, start = 0, len(text)
    while start > 0 and used + width(text[start - 1]) <= budget:
        start -= 1
        used += width(text[start])
    return start


def _buttons(recipient: str, body: str, choices: Sequence[Choice]) -> dict[str, Any]:
    titles = _unique_titles([choice.title for choice in choices], limit.BUTTON_TITLE)
    buttons = [{"type": "reply", "reply": {"id": choice.id, "title": title}}
               for choice, title in zip(choices, titles, strict=True)]
    return _interactive(recipient, {"type": "button", "body": {"text": body}, "action": {"buttons": buttons}})


def _list(recipient: str, body: str, label: str, choices: Sequence[Choice]) -> dict[str, Any]:
    titles = _unique_titles([choice.title for choice in choices], limit.ROW_TITLE)
    rows: list[dict[str, str]] = []
    for choice, title in zip(choices, titles, strict=True):
        row = {"id": choice.id, "title": title}
        description = _shorten(choice.description or "", limit.ROW_DESCRIPTION)
        if description:
            row["description"] = description
        rows.append(row)
    return _interactive(recipient, {"type": "list", "body": {"text": body},
                                    "action": {"button": label, "sections": [{"rows": rows}]}})


def _interactive(recipient: str, interactive: dict[str, Any]) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": recipient,
            "type": "interactive", "interactive": interactive}


def _text_body(recipient: str, chunk: str) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": recipient,
            "type": "text", "text": {"preview_url": False, "body": chunk}}


def _check_choices(choices: Sequence[Choice]) -> None:
    """Choice ids come from code, not from people: a bad one is a bug, stated here."""
    assert len(choices) <= CHOICES_MAX, len(choices)
    ids = [choice.id for choice in choices]
    assert len(set(ids)) == len(ids), f"duplicate choice ids {ids}"
    for choice in choices:
        assert 0 < len(choice.id) <= limit.ROW_ID and choice.id.strip() == choice.id, choice.id
        assert choice.title.strip(), f"choice {choice.id} has no title"


def _unique_titles(titles: Sequence[str], units_max: int) -> list[str]:
    unique: list[str] = []
    for number, title in enumerate(titles, start=1):
        candidate, tries = _shorten(title, units_max), 0
        while candidate in unique:
            tries += 1
            suffix = f" ({number})" if tries == 1 else f" ({number}.{tries})"
            candidate = _shorten(title, units_max - len(suffix)) + suffix
        unique.append(candidate)
    return unique


@functools.lru_cache(maxsize=SHORTENED_CACHE_MAX)  # menus repeat the same few titles
def _shorten(text: str, units_max: int) -> str:
    """One line of at most ``units_max`` UTF-16 units, ending in "…" when it had to be cut."""
    line = _BLANKS.sub(" ", text).strip()
    if width(line) <= units_max:
        return line
    kept, used = [], 0
    for char in line:
        used += 2 if ord(char) > 0xFFFF else 1
        if used > units_max - 1:
            break
        kept.append(char)
    return "".join(kept).rstrip() + ELLIPSIS


def _template_param(text: str) -> str:
    """One line: Meta refuses newlines, tabs and more than four spaces in a row in a parameter."""
    return _shorten(_NEWLINE_RUN.sub(" · ", text.strip()), limit.TEMPLATE_PARAM) or _EMPTY_BODY


def _recipient(msisdn: str) -> str:
    """The WhatsApp id of an E.164 number: its digits."""
    digits = msisdn.removeprefix("+")
    assert digits.isdigit() and 6 <= len(digits) <= 15, msisdn
    return digits
