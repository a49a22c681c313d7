"""Units: the one coercion from what a user types to an astropy ``Quantity``.

Options and arguments that carry a unit accept a ``Quantity``, a string astropy can parse
(``"2 arcmin"``, ``"1.5 deg"``, ``"30 arcsec"``) or a bare number in the parameter's
default unit (named in the parameter: ``radius_deg``, ``size_arcmin``).  Non-finite,
wrongly-dimensioned and (by default) non-positive values are refused with a message naming
the parameter.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, TypeAlias

from dsa110_ws.errors import InvalidQueryError

if TYPE_CHECKING:
    from astropy.units import Quantity, UnitBase

__all__ = ["QuantityLike", "to_quantity", "to_value"]

#: A ``Quantity``, a string such as ``"2 arcmin"``, or a number in the default unit.
QuantityLike: TypeAlias = "Quantity | str | float | int"


def to_quantity(
    value: QuantityLike,
    unit: str | UnitBase,
    *,
    what: str = "value",
    positive: bool = True,
    maximum: Quantity | None = None,
) -> Quantity:
    """``value`` as a scalar ``Quantity`` convertible to ``unit``.

    Parameters
    ----------
    value
        A ``Quantity``, a string astropy parses (``"2 arcmin"``), or a bare number taken
        to be in ``unit``.
    unit
        The default unit, and the dimension the value must have.
    what
        The parameter's name, for messages.
    positive
        Refuse zero and negative values.
    maximum
        Refuse values above this.
    """
    from astropy import units as u

    target = u.Unit(unit)
    try:
        if isinstance(value, u.Quantity):
            q = value.to(target)
        elif isinstance(value, str):
            q = u.Quantity(value.strip())
            q = q.to(target) if q.unit != u.dimensionless_unscaled else q.value * target
        elif isinstance(value, bool):
            raise TypeError("a boolean is not a quantity")
        else:
            q = float(value) * target
    except (u.UnitsError, TypeError, ValueError):
        raise InvalidQueryError(
            f"{what} {value!r} is not a {target.physical_type} (e.g. 2 {target})."
        ) from None
    if not q.isscalar:
        raise InvalidQueryError(f"{what} {value!r} must be one value, not an array.")
    if not math.isfinite(q.value) or (positive and q.value <= 0):
        raise InvalidQueryError(
            f"{what} {value!r} must be a finite"
            f"{' positive' if positive else ''} {target.physical_type}."
        )
    if maximum is not None and q > maximum:
        raise InvalidQueryError(f"{what} {value!r} is larger than the maximum {maximum}.")
    return q


def to_value(
    value: QuantityLike, unit: str | UnitBase, *, what: str = "value", positive: bool = True
) -> float:
    """:func:`to_quantity` as a float in ``unit``."""
    return float(to_quantity(value, unit, what=what, positive=positive).to_value(unit))
