"""Replaying a legacy user's credit history into lots with their own expiry dates.

Pure computation, no database: :func:`credits_replay` takes the user's ``credit_transactions``
and ``users.credits`` and says which lots the user holds now, each with what is left of it
and when it expires. expiry-backfill turns the answer into ledger grants.

The rules (credit system update guide: credits expire ``months`` after their own creation,
spends take the earliest-expiring credits first):

- each credit (amount > 0) is a lot expiring at its own date plus ``months``;
- each spend (amount < 0) draws the lots credited before it, earliest expiry first (FIFO).
  Lots that would have lapsed by then under the new policy still count: the legacy system
  had no expiry, the user really spent those credits, and drawing the oldest first is the
  reading most favourable to the user;
- a spend larger than every earlier credit leaves debt, which the next credits pay first
  (the ledger's own rule for grants on an account in debt);
- ``users.credits`` is the balance the product honoured, the transactions date it. When they
  disagree, the difference is booked explicitly: more in ``users.credits`` (an unrecorded
  credit, typically signup credits) is a lot dated at the user's signup; less (an
  unrecorded spend) is drawn, earliest expiry first, after the last transaction. So the
  lots always add up to ``users.credits`` before anything expires.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ledger import clock

#: source_id of the lot that holds credits users.credits has and the transactions do not.
UNRECORDED = "users.credits"


@dataclass
class ReplayLot:
    """Credits of one legacy credit: when they came, what is left of them, when they expire."""

    source_id: str
    credited_at: datetime
    amount: int
    expires_at: datetime
    remaining: int = field(init=False)

    def __post_init__(self) -> None:
        self.remaining = self.amount


@dataclass(frozen=True)
class Replay:
    """The lots left (``remaining > 0``, in credit order), and how the history compared with
    ``users.credits``: ``transactions_net`` (sum of the transactions) and ``difference``
    (``users.credits - transactions_net``; 0 when they agree)."""

    lots: list[ReplayLot]
    transactions_net: int
    difference: int


def _draw(lots: list[ReplayLot], amount: int) -> int:
    """Take ``amount`` from the lots, earliest expiry first; return what they could not cover."""
    for lot in sorted(lots, key=lambda lot: lot.expires_at):
        take = min(amount, lot.remaining)
        lot.remaining -= take
        amount -= take
        if not amount:
            break
    return amount


def credits_replay(
    *, transactions: list[tuple[int, int, datetime]], balance: int, signup_at: datetime, months: int
) -> Replay:
    """Replay ``transactions`` ((id, amount, created_at), any order) of a user whose
    ``users.credits`` is ``balance`` (>= 0): return the lots the user holds, each with its
    remaining credits and its own expiry (``months`` after its credit)."""
    ordered = sorted(transactions, key=lambda row: (row[2], row[0]))
    net = sum(amount for _, amount, _ in ordered)
    difference = balance - net
    lots: list[ReplayLot] = []
    if difference > 0:
        lots.append(ReplayLot(UNRECORDED, signup_at, difference, clock.add_months(signup_at, months)))
    debt = 0
    for pk, amount, at in ordered:
        if amount > 0:
            paid = min(debt, amount)
            debt -= paid
            if amount > paid:
                lots.append(ReplayLot(str(pk), at, amount - paid, clock.add_months(at, months)))
        elif amount < 0:
            debt += _draw(lots, -amount)
    if difference < 0:
        debt += _draw(lots, -difference)
    # With balance >= 0 the debt is 0 here: lots - debt always equals balance.
    return Replay(lots=[lot for lot in lots if lot.remaining], transactions_net=net, difference=difference)
