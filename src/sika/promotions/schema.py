"""The promotions tables: campaigns, rewards, draw entries and draws, codes and claims, referrals,
and the meters that count rewards against caps.

Money is never here: a campaign's budget is a ledger account (``account_id``), and every reward is a
ledger transfer in its movement's chain. These rows say what the transfers meant, once: a reward row
is written in the transaction that records its movement's outcome (unique per campaign, movement and
customer), a code is bound to one customer by one conditional UPDATE, a draw's entrants are fixed by
one UPDATE when it is committed.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from sika.tables import ROWID, metadata

__all__ = ["campaigns", "claims", "codes", "draws", "entries", "meters", "prizes_waiting", "referrals",
           "rewards"]

OWED_SQL = "status = 'owed'"
WAITING_SQL = "status = 'waiting'"

campaigns = Table(
    "promo_campaigns",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String(80), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("state", String(8), nullable=False),
    Column("sponsor", String(48), nullable=False),
    Column("city", String(32), nullable=False),
    Column("planned", BigInteger, nullable=False),
    Column("account_id", BigInteger, ForeignKey("ledger_accounts.id"), nullable=False, unique=True),
    Column("starts_at_ns", BigInteger, nullable=False),
    Column("ends_at_ns", BigInteger, nullable=True),
    Column("rules", Text, nullable=False),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("updated_at_ns", BigInteger, nullable=False),
    CheckConstraint("state IN ('draft', 'live', 'paused', 'ended')", name="ck_promo_campaigns_state"),
    CheckConstraint("planned >= 0", name="ck_promo_campaigns_planned"),
    Index("ix_promo_campaigns_state", "state", "updated_at_ns"),
)

rewards = Table(
    "promo_rewards",
    metadata,
    Column("id", ROWID, primary_key=True, autoincrement=True),
    Column("campaign_id", String(16), ForeignKey("promo_campaigns.id"), nullable=False),
    Column("movement_id", String(40), nullable=False),
    Column("customer_id", BigInteger, ForeignKey("wallet_customers.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    # The amount of the movement that earned it (a partial refund claws back its share).
    Column("base_amount", BigInteger, nullable=False),
    Column("status", String(12), nullable=False, server_default=text("'paid'")),
    # Taken back by a refund of the earning movement, or owed when the wallet could not pay it back.
    Column("clawed_back", BigInteger, nullable=False, server_default=text("0")),
    Column("owed", BigInteger, nullable=False, server_default=text("0")),
    # What was owed and later rewards of the campaign kept back since (owed + collected: all owed).
    Column("collected", BigInteger, nullable=False, server_default=text("0")),
    # Of this reward, what was kept back for an earlier one owed (not paid: amount - withheld was).
    Column("withheld", BigInteger, nullable=False, server_default=text("0")),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("updated_at_ns", BigInteger, nullable=False),
    CheckConstraint("status IN ('paid', 'clawed_back', 'owed', 'settled')", name="ck_promo_rewards_status"),
    CheckConstraint("amount > 0 AND clawed_back >= 0 AND owed >= 0", name="ck_promo_rewards_amounts"),
    CheckConstraint("collected >= 0 AND withheld >= 0 AND withheld <= amount", name="ck_promo_rewards_debts"),
    UniqueConstraint("campaign_id", "movement_id", "customer_id", name="uq_promo_rewards_once"),
    Index("ix_promo_rewards_customer", "customer_id", "created_at_ns"),
    Index("ix_promo_rewards_movement", "movement_id"),
    # Who owes what: the few owed rows only (sika.promotions.debts looks here for every reward).
    Index("ix_promo_rewards_owed", "customer_id", "campaign_id", postgresql_where=text(OWED_SQL),
          sqlite_where=text(OWED_SQL)),
)

entries = Table(
    "promo_entries",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("campaign_id", String(16), ForeignKey("promo_campaigns.id"), nullable=False),
    Column("customer_id", BigInteger, ForeignKey("wallet_customers.id"), nullable=False),
    Column("movement_id", String(40), nullable=False),
    # Set when a draw is committed: from then on the entry is in that draw's published list.
    Column("draw_id", String(16), nullable=True),
    Column("created_at_ns", BigInteger, nullable=False),
    UniqueConstraint("campaign_id", "movement_id", name="uq_promo_entries_once"),
    Index("ix_promo_entries_draw", "campaign_id", "draw_id"),
    Index("ix_promo_entries_customer", "customer_id", "created_at_ns"),
)

draws = Table(
    "promo_draws",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("campaign_id", String(16), ForeignKey("promo_campaigns.id"), nullable=False),
    Column("status", String(10), nullable=False),
    # Secret until the reveal: only its SHA-256 (the commitment) is shown before.
    Column("seed", String(64), nullable=False),
    Column("commitment", String(64), nullable=False),
    Column("entrants_sha256", String(64), nullable=False),
    Column("entrants", Integer, nullable=False),
    Column("prizes", Text, nullable=False),
    Column("winners", Text, nullable=True),
    Column("committed_at_ns", BigInteger, nullable=False),
    Column("revealed_at_ns", BigInteger, nullable=True),
    CheckConstraint("status IN ('committed', 'revealed')", name="ck_promo_draws_status"),
    Index("ix_promo_draws_campaign", "campaign_id", "committed_at_ns"),
)

# A prize won by a wallet that could not take it then (its tier's caps): the money waits in the prize
# holding account, and the prizes job pays it once it fits, or gives it back when the wait is over.
prizes_waiting = Table(
    "promo_prizes_waiting",
    metadata,
    Column("id", String(40), primary_key=True),  # the prize's first movement, the one refused: <draw>.w<k>
    Column("draw_id", String(16), ForeignKey("promo_draws.id"), nullable=False),
    Column("campaign_id", String(16), ForeignKey("promo_campaigns.id"), nullable=False),
    Column("customer_id", BigInteger, ForeignKey("wallet_customers.id"), nullable=False),
    Column("entry_id", String(24), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(8), nullable=False),
    Column("attempts", Integer, nullable=False),  # movements tried since (each refused by the wallet)
    # What a run claimed before asking the ledger: a try's movement (<id>.<n>; the one that paid it once
    # paid), or giving it back (<id>.b); NULL between tries.
    Column("movement_id", String(40), nullable=True),
    Column("next_try_ns", BigInteger, nullable=False),
    Column("until_ns", BigInteger, nullable=False),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("updated_at_ns", BigInteger, nullable=False),
    CheckConstraint("status IN ('waiting', 'paid', 'returned')", name="ck_promo_prizes_waiting_status"),
    CheckConstraint("amount > 0 AND attempts >= 0", name="ck_promo_prizes_waiting_amount"),
    Index("ix_promo_prizes_waiting_due", "next_try_ns", postgresql_where=text(WAITING_SQL),
          sqlite_where=text(WAITING_SQL)),
    Index("ix_promo_prizes_waiting_customer", "customer_id", "created_at_ns"),
)

codes = Table(
    "promo_codes",
    metadata,
    # HMAC-SHA256 of the code under the promotions key: the codes themselves are never stored.
    Column("digest", String(64), primary_key=True),
    Column("campaign_id", String(16), ForeignKey("promo_campaigns.id"), nullable=False),
    Column("batch", String(16), nullable=False),
    Column("customer_id", BigInteger, ForeignKey("wallet_customers.id"), nullable=True),
    Column("used_at_ns", BigInteger, nullable=True),
    Column("created_at_ns", BigInteger, nullable=False),
    Index("ix_promo_codes_batch", "campaign_id", "batch"),
)

claims = Table(
    "promo_claims",
    metadata,
    Column("campaign_id", String(16), ForeignKey("promo_campaigns.id"), primary_key=True),
    Column("customer_id", BigInteger, ForeignKey("wallet_customers.id"), primary_key=True),
    Column("code_digest", String(64), nullable=True),
    Column("created_at_ns", BigInteger, nullable=False),
)

referrals = Table(
    "promo_referrals",
    metadata,
    Column("referee_customer_id", BigInteger, ForeignKey("wallet_customers.id"), primary_key=True),
    Column("referrer_customer_id", BigInteger, ForeignKey("wallet_customers.id"), nullable=False),
    Column("campaign_id", String(16), ForeignKey("promo_campaigns.id"), nullable=False),
    Column("status", String(10), nullable=False, server_default=text("'pending'")),
    Column("movement_id", String(40), nullable=True),
    Column("created_at_ns", BigInteger, nullable=False),
    CheckConstraint("status IN ('pending', 'due', 'rewarded', 'unpaid')", name="ck_promo_referrals_status"),
    CheckConstraint("referee_customer_id <> referrer_customer_id", name="ck_promo_referrals_self"),
)

meters = Table(
    "promo_meters",
    metadata,
    # "<campaign>:<scope>", e.g. "cp_1a2b:c:42" (a customer), "cp_1a2b:d:2026-03-01" (a day).
    Column("key", String(96), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("ledger_accounts.id"), nullable=False, unique=True),
)
