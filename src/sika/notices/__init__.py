"""Respect: one notification policy for every outbound message (docs/notifications.md).

Categories (:mod:`.categories`), a customer's preferences (:mod:`.preferences`, stored by
:mod:`.store`), the rules operators set (:mod:`.rules`), the pure decision (:mod:`.policy`) and the
outbox's gate that applies it (:mod:`.gate`).
"""

from sika.notices.categories import CATEGORIES, Category, category_of
from sika.notices.policy import Decision, decide
from sika.notices.preferences import QUIET_PROFILES, Preferences
from sika.notices.rules import NoticeRules

__all__ = ["CATEGORIES", "QUIET_PROFILES", "Category", "Decision", "NoticeRules", "Preferences",
           "category_of", "decide"]
