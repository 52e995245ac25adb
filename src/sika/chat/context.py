"""What a step of a flow sees and how it answers: the context of one turn, an answer, a refusal."""

from __future__ import annotations

from dataclasses import dataclass, field

from sika.chat.i18n import Translator, translator
from sika.chat.messages import Inbound, Location, Reply
from sika.chat.services import ChatServices
from sika.chat.state import State
from sika.errors import SikaError
from sika.ledger import Account
from sika.payments import movement_id
from sika.payments.approvals import Approval
from sika.wallet import Customer

__all__ = ["Answer", "Context", "Invalid"]


class Invalid(SikaError):
    """The answer does not fit the step: ``message`` says why (already translated)."""

    code = "invalid_answer"


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    choice: str | None  # a choice id, when the input picked one of the choices on screen
    location: Location | None = None  # a shared location (WhatsApp)


@dataclass
class Context:
    """What a step sees: the services (as ports), the user, the conversation, and where replies go."""

    services: ChatServices
    inbound: Inbound
    state: State
    t: Translator
    customer: Customer | None
    replies: list[Reply] = field(default_factory=list)
    secret_input: bool = False
    # The customer's pending approvals as read for this turn (None: not read yet; see flows).
    pending_approvals: list[Approval] | None = None
    # The wallet's account as read ahead with the batch (None: read it when needed). Money moves only
    # at a PIN step, and the dialog drops this before one: a balance shown after a payment is read.
    account: Account | None = None

    @property
    def msisdn(self) -> str:
        return self.inbound.msisdn

    def say(self, text: str, *, end: bool = False) -> None:
        self.replies.append(Reply(text=text, end=end, rtl=self.t.rtl))

    def go(self, flow: str, step: str) -> None:
        self.state.go(flow, step)

    def done(self, receipt: str) -> None:
        """The flow is over: say ``receipt`` (the last screen on USSD) and go back to the menu."""
        self.say(receipt, end=True)
        self.state.reset()

    def movement_id(self) -> str:
        return movement_id("chat", f"{self.inbound.channel}:{self.inbound.msisdn}:{self.inbound.message_id}")

    def refresh_customer(self) -> None:
        self.customer = self.services.customers.find(self.msisdn)
        if self.customer is not None:
            self.t = translator(self.customer.language)
            self.state.language = self.customer.language
