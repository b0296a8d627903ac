"""credits_replay: a legacy user's history as lots with their own expiry, spent FIFO."""
from datetime import UTC, datetime

from ledger import clock
from migrations_ops.services.credit_replay import UNRECORDED, credits_replay

SIGNUP = datetime(2024, 1, 1, tzinfo=UTC)


def day(n):
    return datetime(2024, 1, 1, tzinfo=UTC).replace(month=1 + n // 28, day=1 + n % 28)


def lots(replay):
    return [(lot.source_id, lot.remaining, lot.expires_at) for lot in replay.lots]


def test_spends_draw_the_earliest_expiring_credits_first():
    replay = credits_replay(transactions=[(3, -120, day(40)), (1, 100, day(1)), (2, 50, day(30))],
                            balance=30, signup_at=SIGNUP, months=6)
    assert lots(replay) == [("2", 30, clock.add_months(day(30), 6))]
    assert (replay.transactions_net, replay.difference) == (30, 0)


def test_a_spend_beyond_every_earlier_credit_is_paid_by_the_next_credits():
    replay = credits_replay(transactions=[(1, 10, day(1)), (2, -40, day(2)), (3, 100, day(3))],
                            balance=70, signup_at=SIGNUP, months=6)
    assert lots(replay) == [("3", 70, clock.add_months(day(3), 6))]


def test_more_in_users_credits_opens_as_a_lot_dated_at_signup():
    replay = credits_replay(transactions=[(1, 10, day(5))], balance=25, signup_at=SIGNUP, months=6)
    assert lots(replay) == [(UNRECORDED, 15, clock.add_months(SIGNUP, 6)), ("1", 10, clock.add_months(day(5), 6))]
    assert replay.difference == 15


def test_less_in_users_credits_is_an_unrecorded_spend_taken_earliest_expiry_first():
    replay = credits_replay(transactions=[(1, 100, day(1)), (2, 10, day(50))], balance=30, signup_at=SIGNUP, months=6)
    assert lots(replay) == [("1", 20, clock.add_months(day(1), 6)), ("2", 10, clock.add_months(day(50), 6))]
    assert replay.difference == -80


def test_no_history_and_no_credits_is_no_lots():
    assert credits_replay(transactions=[], balance=0, signup_at=SIGNUP, months=6).lots == []
