"""Meta's published limits on what the WhatsApp Cloud API accepts, as the fake Graph API checks them.

This is the fake's own copy, written from Meta's documentation, not imported from Sika: a fake that
validated Sika's renderer against Sika's own numbers would pass whatever the numbers were.

Sources (Meta for Developers, WhatsApp Cloud API):

* Messages reference, ``text`` object: body up to 4096 characters.
  https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages#text-object
* Interactive object: body 1024 characters; header and footer 60; reply buttons: at most 3, title 20
  characters, id 256; list messages: button label 20, at most 10 sections, 10 rows in all, row title
  24, row description 72, row id 200, section title 24.
  https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages#interactive-object
  https://developers.facebook.com/docs/whatsapp/cloud-api/messages/interactive-list-messages
* Message templates: name up to 512 characters; a body parameter holds no newline or tab and no more
  than 4 consecutive spaces (error 132018), and the body 1024 characters.
  https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates
  https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes

Meta counts characters; the fake counts UTF-16 code units, the most any of Meta's clients could
count, so that an emoji outside the Basic Multilingual Plane counts twice and nothing that fits here
is refused there.
"""

from __future__ import annotations

__all__ = [
    "BUTTONS_MAX",
    "BUTTON_ID",
    "BUTTON_TITLE",
    "FOOTER_TEXT",
    "HEADER_TEXT",
    "INTERACTIVE_BODY",
    "LIST_BUTTON",
    "LIST_ROWS_MAX",
    "LIST_SECTIONS_MAX",
    "ROW_DESCRIPTION",
    "ROW_ID",
    "ROW_TITLE",
    "SECTION_TITLE",
    "TEMPLATE_NAME",
    "TEMPLATE_PARAM",
    "TEMPLATE_PARAM_SPACES_MAX",
    "TEXT_BODY",
    "width",
]

TEXT_BODY = 4096
INTERACTIVE_BODY = 1024
HEADER_TEXT = 60
FOOTER_TEXT = 60
BUTTONS_MAX = 3
BUTTON_TITLE = 20
BUTTON_ID = 256
LIST_BUTTON = 20
LIST_SECTIONS_MAX = 10
LIST_ROWS_MAX = 10
ROW_TITLE = 24
ROW_DESCRIPTION = 72
ROW_ID = 200
SECTION_TITLE = 24
TEMPLATE_NAME = 512
TEMPLATE_PARAM = 1024
TEMPLATE_PARAM_SPACES_MAX = 4


def width(text: str) -> int:
    """The length of ``text`` in UTF-16 code units (a lone surrogate counts one, as in JSON)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2
