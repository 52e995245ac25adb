"""Meta's documented limits on what the Cloud API accepts, in one place (render obeys them).

The fake Graph API keeps its own copy, taken from Meta's documentation (``sika_fakes.meta_limits``),
so that tests check these numbers against Meta's rather than against themselves.

Lengths are counted in UTF-16 code units, the most any of Meta's clients could count: an emoji outside
the Basic Multilingual Plane counts twice, so a text that fits here fits there whatever Meta counts.
"""

from __future__ import annotations

__all__ = ["width"]

TEXT_BODY = 4_096
INTERACTIVE_BODY = 1_024
HEADER_TEXT = 60
FOOTER_TEXT = 60
BUTTONS_MAX = 3
BUTTON_TITLE = 20
BUTTON_ID = 256
LIST_ROWS_MAX = 10
LIST_SECTIONS_MAX = 10
LIST_BUTTON = 20
ROW_TITLE = 24
ROW_DESCRIPTION = 72
ROW_ID = 200
SECTION_TITLE = 24
TEMPLATE_NAME = 512
TEMPLATE_PARAM = 1_024
# A template parameter may not hold a newline or a tab, nor more than this many spaces in a row.
TEMPLATE_PARAM_SPACES_MAX = 4


def width(text: str) -> int:
    """The length of ``text`` in UTF-16 code units (lone surrogates count one, as in JSON)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2
