"""Argument checks with one rule for every module: ``bool`` is not a
number (``True`` is refused where an integer or a float is expected)."""
import math
import numbers
from typing import Optional

__all__ = ['check_int', 'check_number']


def _int_range_text(minimum: Optional[int], maximum: Optional[int]) -> str:
    if minimum is not None and maximum is not None:
        return f'an integer in [{minimum}, {maximum}]'
    if minimum == 1:
        return 'a positive integer'
    if minimum == 0:
        return 'a non-negative integer'
    if minimum is not None:
        return f'an integer >= {minimum}'
    if maximum is not None:
        return f'an integer <= {maximum}'
    return 'an integer'


def check_int(owner: str,
              name: str,
              value,
              minimum: Optional[int] = 1,
              maximum: Optional[int] = None) -> int:
    """Return ``value`` as an ``int`` if it is an integer in range.

    Python and numpy integers are accepted; ``bool`` and floats (even
    ``3.0``) are not.

    Args:
        owner: What the argument belongs to, e.g. ``'CapsuleLayer'``.
        name: The argument's name.
        value: The value to check.
        minimum: Smallest allowed value (``None``: unbounded).
        maximum: Largest allowed value (``None``: unbounded).

    Raises:
        ValueError: Naming ``owner``, ``name``, the allowed range and the
            value, e.g. ``CapsuleLayer: in_capsules must be a positive
            integer, got 0``.
    """
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or (minimum is not None and value < minimum)
            or (maximum is not None and value > maximum)):
        raise ValueError(f'{owner}: {name} must be '
                         f'{_int_range_text(minimum, maximum)}, '
                         f'got {value!r}')
    return int(value)


def check_number(owner: str,
                 name: str,
                 value,
                 minimum: Optional[float] = None,
                 maximum: Optional[float] = None,
                 strict_minimum: bool = False,
                 strict_maximum: bool = False) -> float:
    """Return ``value`` as a ``float`` if it is a finite real number in
    range.

    Args:
        owner: What the argument belongs to.
        name: The argument's name.
        value: The value to check (``bool``, NaN and infinities refused).
        minimum: Smallest allowed value (``None``: unbounded).
        maximum: Largest allowed value (``None``: unbounded).
        strict_minimum: ``value`` must exceed ``minimum`` (e.g. ``> 0``).
        strict_maximum: ``value`` must stay under ``maximum``.

    Raises:
        ValueError: Naming ``owner``, ``name``, the allowed range and the
            value, e.g. ``EM routing: eps must be a number in (0, 1), got
            0``.
    """
    ok = (not isinstance(value, bool) and isinstance(value, numbers.Real)
          and math.isfinite(value))
    if ok and minimum is not None:
        ok = value > minimum if strict_minimum else value >= minimum
    if ok and maximum is not None:
        ok = value < maximum if strict_maximum else value <= maximum
    if not ok:
        if minimum is not None and maximum is not None:
            low = '(' if strict_minimum else '['
            high = ')' if strict_maximum else ']'
            expected = f'a number in {low}{minimum}, {maximum}{high}'
        elif minimum == 0:
            expected = ('a positive number'
                        if strict_minimum else 'a non-negative number')
        elif minimum is not None:
            expected = f'a number {">" if strict_minimum else ">="} {minimum}'
        elif maximum is not None:
            expected = f'a number {"<" if strict_maximum else "<="} {maximum}'
        else:
            expected = 'a finite number'
        raise ValueError(f'{owner}: {name} must be {expected}, got '
                         f'{value!r}')
    return float(value)
