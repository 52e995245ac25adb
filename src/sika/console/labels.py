"""Words the pages show for values stored as codes (a movement's kind, a trip's status, an audit
action): listed here so that extraction finds them and the templates translate them with ``_(value)``.
A value missing here is shown as it is stored."""

from __future__ import annotations

from sika.console.i18n import N_

__all__ = ["LABELS"]

LABELS = (
    # Movement kinds (sika.payments.Kind) and where they take money.
    N_("cash_in"), N_("cash_out"), N_("transfer"), N_("voucher"), N_("voucher_claim"), N_("voucher_refund"),
    N_("airtime"), N_("bill"), N_("top_up"), N_("merchant_payment"), N_("merchant_refund"), N_("float"),
    N_("ride"), N_("ride_cash"), N_("driver_payout"), N_("adjustment"), N_("in"), N_("out"), N_("within"),
    # Movement, proposal, outbox and callback statuses; a hold's state; audit outcomes.
    N_("processing"), N_("pending"), N_("completed"), N_("failed"), N_("refunded"), N_("proposed"),
    N_("approving"), N_("executed"), N_("rejected"), N_("queued"), N_("delivered"), N_("dropped"),
    N_("posted"), N_("voided"), N_("expired"), N_("ok"), N_("refused"), N_("payer"), N_("payee"),
    # Trips and offers (sika.rides), how a ride is paid, who cancelled.
    N_("requested"), N_("driver_assigned"), N_("driver_arrived"), N_("in_progress"), N_("cancelled"),
    N_("no_driver_found"), N_("accepted"), N_("declined"), N_("lapsed"), N_("cash"), N_("card"),
    N_("rider"),
    # Campaigns (sika.promotions): their kinds and statuses; a reward's status.
    N_("cashback"), N_("airtime_bonus"), N_("ride_discount"), N_("referral"), N_("prize_draw"), N_("draft"),
    N_("scheduled"), N_("active"), N_("paused"), N_("ended"), N_("committed"), N_("revealed"), N_("paid"),
    N_("clawed_back"), N_("owed"), N_("settled"), N_("prize"),
    # Audit actions.
    N_("login"), N_("logout"), N_("propose"), N_("approve"), N_("reject"), N_("csrf_refused"),
    N_("job:recover"), N_("job:poll"), N_("job:callbacks"),
)
