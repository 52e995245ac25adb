"""The dialog engine: one conversation per user and channel, the same flows on every channel.

For each inbound message the engine loads the conversation (:mod:`sika.chat.state`), understands the
input (a command that works at every step: back, cancel, menu, help; a choice by id, number or title;
a free-text shortcut such as "envoyer 5000 à 90112233"; or the answer the current step asks for),
lets the current step (:mod:`sika.chat.flows`) take it, and answers with the next step's question.
A step that refuses an answer says why and asks again. Money moves only at a PIN step, through the
same services as the REST API, with a movement id derived from the message id, so a message handled
twice moves money once.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from sika import phones
from sika.chat import abroad, consent, flows
from sika.chat.context import Answer, Context, Invalid
from sika.chat.i18n import Translator, translator
from sika.chat.messages import Choice, Inbound, InboundKind, Reply, Turn
from sika.chat.services import ChatServices, ConversationPort
from sika.chat.shortcuts import Command, command, parse_intent
from sika.chat.state import State
from sika.errors import SikaError
from sika.ledger import Account
from sika.payments.approvals import Approval
from sika.wallet import Customer

__all__ = ["Answer", "Context", "Dialog", "Invalid"]

log = logging.getLogger(__name__)


class Dialog:
    """The engine over ``services`` (the ports of :mod:`sika.chat.services`); ``conversations``, when
    given, keeps the conversations instead of ``services.conversations``."""

    def __init__(self, services: ChatServices, conversations: ConversationPort | None = None) -> None:
        self.services = services
        self.conversations = conversations or services.conversations

    def handle(self, inbound: Inbound, *, session_key: str | None = None,
               language: str | None = None) -> Turn:
        """Answer one inbound message; the conversation is saved before returning.

        ``language`` overrides the customer's for this message (the terminal's ``--lang``).
        """
        if abroad.outside_zone(inbound.msisdn):  # one polite answer; nothing opened or stored
            return abroad.answer(inbound, self.services.answered_abroad)
        key = session_key or inbound.msisdn
        state = self.conversations.load(inbound.channel, key)
        customer, pending, account = self._read_ahead(inbound.msisdn)
        language = language or (customer.language if customer is not None else state.language)
        if language is None:
            language = phones.default_language(inbound.msisdn)
        ctx = Context(services=self.services, inbound=inbound, state=state, t=translator(language),
                      customer=customer, pending_approvals=pending, account=account)
        try:
            if not self._stopped(ctx):
                self._turn(ctx)
            consent.ask_once(ctx)
        except SikaError as exc:
            ctx.say(flows.explain(ctx, exc))
            if flows.ends_the_flow(exc):  # asking the same step again would only loop
                ctx.state.reset()
            self._ask(ctx)
        self.conversations.save(inbound.channel, key, inbound.msisdn, ctx.state)
        return Turn(replies=ctx.replies, secret_input=ctx.secret_input)

    @contextmanager
    def prefetch(self, numbers: Collection[str]) -> Iterator[None]:
        """Read the wallets of ``numbers``, their accounts, pending approvals and whether they were asked
        for marketing consent at once, for the messages a channel is about to hand over in a batch (on
        this thread): each number's first message then reads nothing more of them; a later one of the
        same number in the batch reads afresh, since the first may have changed them. What is read
        here is as fresh as the batch is short."""
        try:
            found = self.services.customers.find_many(numbers)
            pending = self.services.approvals.pending_for_many([c.id for c in found.values()],
                                                               limit=flows.PENDING_SHOWN)
            accounts = self.services.accounts.get_accounts(
                [c.account_id for c in found.values() if c.account_id is not None])
        except Exception:  # each message reads for itself, and only its own failure holds it back
            log.exception("reading ahead for %s numbers failed; each message reads for itself", len(numbers))
            yield
            return
        try:  # for consent.ask_once, after each turn; without it each number is read alone
            self.services.notices.store.learn_asked(found.keys())
        except Exception:
            log.warning("reading who was asked for consent for %s numbers failed", len(found), exc_info=True)
        token = _ahead.set(_ReadAhead(self, set(numbers), found, pending, accounts))
        try:
            yield
        finally:
            _ahead.reset(token)

    def _read_ahead(self, msisdn: str) -> tuple[Customer | None, list[Approval] | None, Account | None]:
        """The customer (and their pending approvals and account, when read ahead) for this message."""
        ahead = _ahead.get()
        if ahead is None or ahead.dialog is not self or msisdn not in ahead.unread:
            return self.services.customers.find(msisdn), None, None
        ahead.unread.discard(msisdn)  # once: the next message of this number reads afresh
        customer = ahead.customers.get(msisdn)
        if customer is None:
            return None, None, None
        account = ahead.accounts.get(customer.account_id) if customer.account_id is not None else None
        return customer, ahead.approvals.get(customer.id, []), account

    def expects_secret(self, channel: str, session_key: str) -> bool:
        """Whether the next answer is a PIN (a terminal then reads it without echo)."""
        state = self.conversations.load(channel, session_key)
        return not state.fresh and flows.step(state.flow, state.step).secret

    # One turn ------------------------------------------------------------------------------------

    def _turn(self, ctx: Context) -> None:
        inbound, state = ctx.inbound, ctx.state
        if inbound.kind is InboundKind.ATTACHMENT:
            self._attachment(ctx)
            return
        if inbound.kind is InboundKind.LOCATION and ctx.customer is not None:
            # A shared location answers a ride step, or starts booking a ride from there.
            step = flows.step(state.flow, state.step)
            if step.on_location is None:
                state.reset("ride", "pickup")
                step = flows.step("ride", "pickup")
            assert step.on_location is not None and inbound.location is not None
            try:
                step.on_location(ctx, inbound.location)
            except Invalid as problem:
                _refused(ctx, problem)
            self._ask(ctx)
            return
        if inbound.kind is InboundKind.LOCATION:
            ctx.say(ctx.t("Open your wallet first: then you can book rides by sharing your location."))
            state.reset("welcome", flows.WELCOME_FIRST_STEP)
            self._ask(ctx)
            return
        if inbound.kind is InboundKind.UNSUPPORTED:
            ctx.say(ctx.t("Sorry, I can only read text messages and the buttons I send."))
            self._ask(ctx)
            return
        if state.fresh and inbound.kind is InboundKind.TEXT and flows.looks_like_pin(inbound.text):
            # Four digits opening a conversation are most likely a PIN typed after the form expired:
            # never keep it, and say that nothing happened.
            ctx.secret_input = True
            ctx.say(ctx.t("Your session had expired, so nothing was sent. Please start again."))
            if ctx.customer is None:
                state.reset("welcome", flows.WELCOME_FIRST_STEP)
            self._ask(ctx)
            return
        if ctx.customer is None and state.flow != "welcome":
            state.reset("welcome", flows.WELCOME_FIRST_STEP)
            flows.welcome_intro(ctx)
            self._ask(ctx)
            return
        if state.fresh and ctx.customer is not None and state.flow != "menu":
            state.reset()
        text = inbound.text.strip()
        step = flows.step(state.flow, state.step)
        if not step.secret:
            cmd = command(text) if inbound.kind is InboundKind.TEXT else None
            if cmd is not None and self._command(ctx, cmd):
                return
            intent = parse_intent(text) if inbound.kind is InboundKind.TEXT and ctx.customer else None
            if intent is not None:
                flows.start_intent(ctx, intent)
                self._ask(ctx)
                return
        answer = Answer(text=text, choice=self._choice(state, inbound))
        if step.secret:  # a PIN: money may move now, so balances shown after it are read afresh
            ctx.secret_input, ctx.account = True, _forget_accounts()
        try:
            step.answer(ctx, answer)
        except Invalid as problem:
            _refused(ctx, problem)
        self._ask(ctx)

    def _command(self, ctx: Context, cmd: Command) -> bool:
        state = ctx.state
        if cmd is Command.HELP:
            ctx.say(flows.help_text(ctx))
            self._ask(ctx)
            return True
        if state.flow == "welcome":
            if cmd is Command.BACK and state.back():
                self._ask(ctx)
                return True
            return False  # a new customer's name may well be "Menu": let the step decide
        if cmd is Command.BACK:
            if not state.back():
                state.reset()
        elif cmd is Command.CANCEL:
            if state.flow != "menu":
                ctx.say(ctx.t("Cancelled. Nothing was sent."))
            state.reset()
        else:
            state.reset()
        self._ask(ctx)
        return True

    def _stopped(self, ctx: Context) -> bool:
        """STOP (in any of the seven languages): marketing ends at once, whatever the conversation was
        doing; YES to the consent question asked once: marketing on. True when that was the message."""
        inbound, state = ctx.inbound, ctx.state
        secret = not state.fresh and flows.step(state.flow, state.step).secret
        if inbound.kind is not InboundKind.TEXT or secret:
            return False
        if state.flow == "menu" and consent.agreed(ctx):
            self._ask(ctx)
            return True
        if not consent.is_stop(inbound.text):
            return False
        consent.stop(ctx)
        if ctx.customer is None and state.flow != "welcome":
            state.reset("welcome", flows.WELCOME_FIRST_STEP)
        self._ask(ctx)
        return True

    @staticmethod
    def _choice(state: State, inbound: Inbound) -> str | None:
        if inbound.kind is InboundKind.CHOICE and inbound.choice_id in state.expect:
            return inbound.choice_id
        text = inbound.text.strip()
        # Decimal digits of any script ("٢" too; not "²", which int() refuses), and few of them.
        if text.isdecimal() and len(text) <= 3 and state.expect and 1 <= int(text) <= len(state.expect):
            return state.expect[int(text) - 1]
        if inbound.kind is InboundKind.CHOICE:
            return None  # a button from an old screen: treat as nothing chosen
        return None

    def _ask(self, ctx: Context) -> None:
        """End the turn with the current step's question (unless the flow just finished on USSD)."""
        reply = flows.step(ctx.state.flow, ctx.state.step).ask(ctx)
        ctx.state.expect = [choice.id for choice in reply.choices]
        ctx.replies.append(Reply(text=ctx.t.directed(reply.text), choices=_directed(ctx.t, reply.choices),
                                 button=reply.button, end=reply.end, rtl=ctx.t.rtl))

    @staticmethod
    def _attachment(ctx: Context) -> None:
        # Never downloaded, never opened: the channel screened the file when it arrived (and logged
        # a security event for a dangerous one); the dialog only says what the channel found.
        attachment = ctx.inbound.attachment
        if attachment is not None and attachment.dangerous:
            ctx.say(ctx.t("Warning: this file could harm your phone and was not opened. Sika never "
                          "asks you to open files. Delete it if you do not know where it comes from."))
        else:
            ctx.say(ctx.t("Sika does not read files or pictures; nothing was opened."))


@dataclass(slots=True)
class _ReadAhead:
    dialog: Dialog
    unread: set[str]  # numbers whose first message has not been handled yet
    customers: dict[str, Customer]
    approvals: dict[int, list[Approval]]
    accounts: dict[int, Account]


_ahead: ContextVar[_ReadAhead | None] = ContextVar("sika_chat_read_ahead", default=None)


def _forget_accounts() -> Account | None:
    """Money may move: the accounts read ahead for the batch are read again, whoever they belong to
    (the payee's next message in this batch shows the payment). None, the turn's account now."""
    ahead = _ahead.get()
    if ahead is not None:
        ahead.accounts.clear()
    return None


def _directed(t: Translator, choices: list[Choice]) -> list[Choice]:
    if not t.rtl:
        return choices
    return [Choice(id=c.id, title=t.directed(c.title), description=c.description) for c in choices]


def _refused(ctx: Context, problem: Invalid) -> None:
    """A step refused its answer: say why, and end the flow when no other answer could change it."""
    ctx.say(problem.message)
    if flows.ends_the_flow(problem.__cause__):  # asking the same step again would only loop
        ctx.state.reset()
