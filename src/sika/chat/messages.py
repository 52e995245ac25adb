"""What the dialog engine receives and answers, whatever the channel (WhatsApp, USSD, terminal).

Channels turn their wire formats into :class:`Inbound` and render :class:`Reply` back: WhatsApp as
text or interactive buttons and lists (within Meta's limits), USSD as a numbered menu of at most 182
characters, the terminal as plain lines. The engine never sees a wire format.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = ["MASK", "Attachment", "Choice", "Inbound", "InboundKind", "Location", "Reply", "Turn"]


class InboundKind(enum.StrEnum):
    TEXT = "text"
    CHOICE = "choice"          # a tapped reply button or list row (WhatsApp), a menu number (USSD)
    LOCATION = "location"      # a shared location (rides use it)
    ATTACHMENT = "attachment"  # an image, document, audio, video or sticker: never opened
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file someone sent, as the channel describes it: never downloaded, never opened. The channel
    screens it on arrival (WhatsApp: :mod:`sika.chat.whatsapp.attachments`) and says whether it is a
    file that would run code (``dangerous``); the dialog only words the warning."""

    media_type: str            # "image", "document", "audio", "video", "sticker"
    filename: str | None = None
    mime_type: str | None = None
    dangerous: bool = False


@dataclass(frozen=True, slots=True)
class Inbound:
    channel: str               # "whatsapp", "ussd", "terminal"
    msisdn: str                # E.164
    kind: InboundKind
    message_id: str            # the channel's id: each is handled once
    text: str = ""             # TEXT: what was typed; CHOICE: the option's title
    choice_id: str | None = None
    location: Location | None = None
    attachment: Attachment | None = None
    profile_name: str | None = None  # the name WhatsApp shows for the sender, when given


@dataclass(frozen=True, slots=True)
class Choice:
    id: str                    # stable, language-independent ("send", "confirm", "op:togocom")
    title: str                 # what the user sees, translated
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to the user.

    ``choices`` become reply buttons (up to 3) or a list (up to 10 rows) on WhatsApp and numbered
    lines on USSD; ``end`` closes the session where the channel has sessions (USSD ``END``).
    ``header`` is the list's button label on WhatsApp.
    """

    text: str
    choices: list[Choice] = field(default_factory=list)
    button: str | None = None
    end: bool = False
    rtl: bool = False


@dataclass(frozen=True, slots=True)
class Turn:
    """The engine's answer to one inbound message.

    ``secret_input``: the message was a PIN (or another secret). Channels must not keep it: message
    history and logs get :data:`MASK` instead.
    """

    replies: list[Reply]
    secret_input: bool = False


MASK = "••••"
