"""Free-text shortcuts, in every language Sika speaks.

"envoyer 5000 à 90112233", "send 2000 to +22890112233", "solde", "balance",
"crédit 1000 pour 97112233", "enviar 5000 a 90112233", "أرسل 5000 إلى 90112233", "баланс" … become
an :class:`Intent` that jumps straight to the confirmation of a flow. Also the words that work at
every step: back, cancel, menu, help. Matching ignores case and accents; digits may be Arabic-Indic
(٠١٢…) and amounts may carry thousands separators ("5 000", "5.000", "5,000") or a currency word
("5000 F", "5000 fcfa").
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass

from sika.payments.limits import AMOUNT_MAX

__all__ = ["Command", "Intent", "command", "normalize", "parse_amount", "parse_intent"]

TEXT_CHARS_MAX = 500


class Command(enum.StrEnum):
    BACK = "back"
    CANCEL = "cancel"
    MENU = "menu"
    HELP = "help"


@dataclass(frozen=True, slots=True)
class Intent:
    action: str                # "balance", "send", "airtime", "history"
    amount: int | None = None
    number: str | None = None  # as typed; the flow normalizes it


def normalize(text: str) -> str:
    """Lower case, accents off, Arabic-Indic and other digits as ASCII, spaces folded."""
    text = text[:TEXT_CHARS_MAX]
    if text.isascii():  # most messages: nothing to decompose, no digit of another script
        return " ".join(text.casefold().split())
    out = []
    for char in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(char) and not ("\u0600" <= char <= "\u06ff"):
            continue  # drop Latin accents, keep Arabic marks (they carry letters)
        if char.isdigit() and not char.isascii():
            out.append(str(unicodedata.digit(char, 0)))
        else:
            out.append(char)
    return " ".join("".join(out).casefold().split())


_COMMANDS: dict[Command, frozenset[str]] = {
    Command.BACK: frozenset({"0", "back", "retour", "atras", "volver", "indietro", "voltar", "назад",
                             "رجوع", "عودة", "precedent"}),
    Command.CANCEL: frozenset({"x", "cancel", "annuler", "stop", "cancelar", "annulla", "cancela",
                               "отмена", "отменить", "إلغاء", "الغاء"}),
    Command.MENU: frozenset({"00", "menu", "accueil", "start", "hi", "hello", "bonjour", "salut", "hola",
                             "ciao", "ola", "menú", "меню", "привет", "القائمة", "مرحبا", "السلام عليكم"}),
    Command.HELP: frozenset({"?", "help", "aide", "ayuda", "aiuto", "ajuda", "помощь", "مساعدة"}),
}
_COMMAND_WORDS = {normalize(word): cmd for cmd, words in _COMMANDS.items() for word in words}


def command(text: str) -> Command | None:
    return _COMMAND_WORDS.get(normalize(text))


_BALANCE = {normalize(w) for w in ("solde", "balance", "saldo", "баланс", "رصيد", "الرصيد", "mon solde",
                                    "my balance", "mi saldo", "il mio saldo", "meu saldo", "мой баланс")}
_HISTORY = {normalize(w) for w in ("historique", "history", "historial", "cronologia", "storico",
                                    "historico", "история", "السجل", "سجل")}
_SEND_VERBS = ("envoyer", "envoie", "envoi", "transferer", "send", "transfer", "pay", "enviar", "manda",
               "mandar", "inviare", "invia", "mandare", "transferir", "отправить", "отправь", "перевести",
               "переведи", "أرسل", "ارسل", "حول", "تحويل", "إرسال")
_AIRTIME_VERBS = ("credit", "recharge", "recharger", "airtime", "topup", "top up", "credito", "ricarica",
                  "recarga", "recargar", "recarregar", "пополнить", "пополни", "рассрочка", "رصيد مكالمات",
                  "شحن", "اشحن")
_LINKS = ("a", "au", "pour", "to", "for", "para", "per", "al", "ao", "à", "для", "на", "إلى", "الى",
          "ل", "لـ")

_AMOUNT = r"(?P<amount>\d{1,3}(?:[ .,\u00a0\u202f]\d{3})+|\d+)\s*(?:f|fcfa|f cfa|cfa|xof|francs?)?"
_NUMBER = r"(?P<number>\+?\d[\d .\-]{6,18}\d)"


def _verbs(words: tuple[str, ...]) -> str:
    return "|".join(sorted((re.escape(normalize(w)) for w in words), key=len, reverse=True))


_LINK = _verbs(_LINKS)
_SEND_RE = re.compile(rf"^(?:{_verbs(_SEND_VERBS)})\s+{_AMOUNT}\s+(?:(?:{_LINK})\s+)?{_NUMBER}$")
_AIRTIME_RE = re.compile(rf"^(?:{_verbs(_AIRTIME_VERBS)})\s+{_AMOUNT}(?:\s+(?:(?:{_LINK})\s+)?{_NUMBER})?$")


def parse_amount(text: str) -> int | None:
    """A whole number of francs from what people type: "5000", "5 000", "5.000 F"; None otherwise."""
    match = re.fullmatch(_AMOUNT, normalize(text))
    if match is None:
        return None
    digits = re.sub(r"\D", "", match.group("amount"))
    if not digits or len(digits) > 13:
        return None
    value = int(digits)
    return value if 0 < value <= AMOUNT_MAX else None


def parse_intent(text: str) -> Intent | None:
    """A shortcut typed at any time, or None."""
    clean = normalize(text)
    if not clean:
        return None
    if clean in _BALANCE:
        return Intent("balance")
    if clean in _HISTORY:
        return Intent("history")
    for pattern, action in ((_SEND_RE, "send"), (_AIRTIME_RE, "airtime")):
        match = pattern.fullmatch(clean)
        if match is None:
            continue
        amount = parse_amount(match.group("amount"))
        if amount is None:
            return None
        number = match.group("number")
        return Intent(action, amount=amount, number=re.sub(r"[ .\-]", "", number) if number else None)
    return None
