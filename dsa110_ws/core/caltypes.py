"""The two vocabularies of ``caltables.table_type``.

The pipeline's production code registers the short types K (delay), BA (amplitude-only
bandpass), BP (bandpass), GA (gain amplitude), GP (gain phase), 2G (short-interval gain,
amplitude and phase) and FLUX (flux scale).  Databases built by the pipeline's own test
fixtures use the long names ``delay``, ``bandpass``, ``gain`` and ``flux``.  Both are read;
a ``gain`` table solves amplitude and phase, so it satisfies GA and GP alike.

>>> satisfies("GP", ["bandpass", "gain"])
True
>>> canonical("bandpass"), canonical("ga")
('BP', 'GA')
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["SHORT_TYPES", "LONG_NAMES", "canonical", "satisfies", "missing", "is_bandpass"]

#: The production registry's types, in apply order.
SHORT_TYPES = ("K", "BA", "BP", "GA", "GP", "2G", "FLUX")
#: Long name (the pipeline's test fixtures) -> the short type it stands for.
LONG_NAMES = {"delay": "K", "bandpass": "BP", "gain": "G", "flux": "FLUX"}
#: Required type -> the stored types (canonical) that provide it.
_PROVIDED_BY = {
    "K": {"K"},
    "BA": {"BA", "BP"},
    "BP": {"BP", "BA"},
    "GA": {"GA", "2G", "G"},
    "GP": {"GP", "2G", "G"},
    "2G": {"2G"},
    "FLUX": {"FLUX"},
}


def canonical(table_type: object) -> str:
    """A stored type in the short vocabulary (``G`` for a long-named ``gain`` table: both
    amplitude and phase); unknown words are returned upper-cased."""
    text = str(table_type).strip()
    return LONG_NAMES.get(text.lower(), text.upper())


def satisfies(required: str, have: Iterable[object]) -> bool:
    """Whether the stored types ``have`` (either vocabulary) provide ``required``."""
    want = canonical(required)
    stored = {canonical(t) for t in have}
    return bool(_PROVIDED_BY.get(want, {want}) & stored)


def missing(required: Iterable[str], have: Iterable[object]) -> list[str]:
    """The required types (as given) that ``have`` does not provide."""
    have = list(have)
    return [r for r in required if not satisfies(r, have)]


def is_bandpass(table_type: object) -> bool:
    """BP, BA or ``bandpass``."""
    return canonical(table_type) in {"BP", "BA"}
