"""How a connector says which of the organisation's entries fits a setting best (see
app.connections.defaults): by entry type and name words, and for tax by percentage, never by code."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

_PERCENT = re.compile(r"(\d+(?:[.,]\d+)?)\s*%")
_UNTAXED_WORDS = {"free", "exempt", "zero", "no", "none", "nil", "excluded", "untaxed"}


@dataclass(frozen=True)
class Pick:
    """How to choose one setting's entry: the program's entry types, best first (empty: any type
    the setting allows); words of the entry's name that make it fit better (or, with `need_words`,
    at all); for a tax type, the percentage it must have."""

    types: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    need_words: bool = False
    rate: Decimal | None = None


def pos_rate(name: str) -> Decimal | None:
    """The percentage a POS tax rate's name states ("GST 10%" → 10, "Zero rated" → 0), if any."""
    found = _PERCENT.search(name)
    if found:
        try:
            return Decimal(found.group(1).replace(",", "."))
        except InvalidOperation:
            return None
    return Decimal(0) if set(words_of(name)) & _UNTAXED_WORDS else None


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def tax_pick(pos_name: str, side_types: tuple[str, ...], side_words: tuple[str, ...]) -> Pick | None:
    """A tax type for a POS tax rate: the same percentage, the side's report types first, and the
    POS name's own words ("free", "zero", "exempt") as tie-breakers."""
    rate = pos_rate(pos_name)
    if rate is None:
        return None
    return Pick(types=side_types, words=(*words_of(pos_name), *side_words), rate=rate)
