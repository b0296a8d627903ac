"""migrations_ops.services.planner: statistics kept in step with tables a run grows."""
import pytest
from django.db import connection

from ledger.models import AuditEvent
from ledger.services.bulk import values_insert
from migrations_ops.services.planner import MIN_CHANGED, plans_discard, statistics_refresh


def analyzed_at(table: str):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = %s", [table])
        return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_table_that_grew_past_its_statistics_is_analyzed_once():
    statistics_refresh()  # whatever earlier tests left behind
    rows = [{"action": "grow", "actor": "tests", "object_type": "x", "object_id": str(n)} for n in range(MIN_CHANGED)]
    values_insert(AuditEvent, rows)
    analyzed_at("ledger_auditevent")  # flushes this session's counters
    assert "public.ledger_auditevent" in statistics_refresh()
    assert analyzed_at("ledger_auditevent") is not None
    assert "public.ledger_auditevent" not in statistics_refresh()  # nothing changed since


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_skipped_table_is_left_unanalyzed_until_it_is_not_skipped():
    statistics_refresh()
    rows = [{"action": "grow", "actor": "tests", "object_type": "x", "object_id": str(n)} for n in range(MIN_CHANGED)]
    values_insert(AuditEvent, rows)
    analyzed_at("ledger_auditevent")
    assert "public.ledger_auditevent" not in statistics_refresh(skip=("ledger_auditevent",))
    assert "public.ledger_auditevent" in statistics_refresh()


@pytest.mark.django_db
def test_inside_a_transaction_it_analyzes_nothing_and_plans_can_be_dropped_anywhere():
    plans_discard()
    assert statistics_refresh() == []
