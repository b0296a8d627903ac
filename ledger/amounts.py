"""The one representation of credit amounts: whole credits as Python ``int``.

Credits are integers everywhere (``bigint`` in the database), so sums are exact on every
backend, SQLite included. Where a rate or a price yields a fraction (usage pricing, currency
conversion), :func:`credits_round` is the single rounding rule: half away from zero
(``ROUND_HALF_UP``) to a whole credit.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .exceptions import InvalidAmount

#: The largest amount a single write may carry. Far below bigint's 9.2e18, so that sums of
#: many entries (totals, reports) can never overflow the column.
MAX_AMOUNT = 10**15


def credits_round(value: Decimal | int | str) -> int:
    """Round an exact decimal quantity of credits to a whole credit, half away from zero."""
    return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def amount_parse(value: object, *, field: str = "amount", allow_negative: bool = False) -> int:
    """Return ``value`` as a whole, non-zero credit amount or raise :class:`InvalidAmount`.

    Accepts ints, integral Decimals and strings of digits. Refuses booleans, floats,
    fractions, NaN, infinities, zero, amounts past :data:`MAX_AMOUNT`, and negatives unless
    ``allow_negative``. The error names ``field`` and the rule that was broken.
    """
    if isinstance(value, bool) or value is None:
        raise InvalidAmount(field, "must be a whole number of credits")
    if isinstance(value, float):
        raise InvalidAmount(field, "must be a whole number of credits, not a float")
    if isinstance(value, int):
        number = value
    else:
        try:
            exact = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            raise InvalidAmount(field, f"must be a whole number of credits, got {value!r}") from None
        if not exact.is_finite():
            raise InvalidAmount(field, "must be a finite number (NaN and infinity are refused)")
        if exact != exact.to_integral_value():
            raise InvalidAmount(field, "must be a whole number of credits (no fractions)")
        number = int(exact)
    if number == 0:
        raise InvalidAmount(field, "must not be zero")
    if number < 0 and not allow_negative:
        raise InvalidAmount(field, "must be positive")
    if abs(number) > MAX_AMOUNT:
        raise InvalidAmount(field, f"must be at most {MAX_AMOUNT:,} in absolute value")
    return number
