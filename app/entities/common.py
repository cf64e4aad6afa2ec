"""Field types shared by the entity schemas."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
)

# Words that follow a collection in the URL (/v1/customers/batch, /v1/customers/sync-status): a
# record with such an id could never be read back, so no POS id may be one of them.
ROUTE_WORDS = ("batch", "sync-status")


def _not_a_route_word(value: str) -> str:
    if value.lower() in ROUTE_WORDS:
        raise ValueError(f"'{value}' is a word of the API's URLs ({', '.join(ROUTE_WORDS)}); choose another id")
    return value


POS_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"
POS_ID_MAX_LENGTH = 100

PosId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=POS_ID_MAX_LENGTH, pattern=POS_ID_PATTERN),
    AfterValidator(_not_a_route_word),
    Field(json_schema_extra={"not": {"enum": list(ROUTE_WORDS)}}),
]
def _rfc3339_text(value):
    # A JSON number is no date (pydantic would read it as a Unix time) and a time without its
    # offset is no instant: the schema says date-time (RFC 3339), so only that is taken.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("a date-time is written as text, for example 2026-11-27T10:15:00Z")
    return value


Moment = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]
Flag = StrictBool  # true or false, not 0/1 or "yes"
_LIMIT = 999_999_999_999  # 12 digits before the point, 4 after: 16 in all
_FRACTION = r"(\.[0-9]{1,4})?"


def _decimal_input(value):
    # A JSON number is binary: keep the 4 decimal places an amount has, as the schema promises
    # (strings are exact and taken as written).
    if isinstance(value, float):
        return Decimal(str(round(value, 4)))
    return value


def _amount(*, kind: str):
    """A decimal (max 12 digits before the point, 4 after) written as a JSON string or number; the
    schema states exactly what validation takes. kind: signed, non-negative or positive."""
    if kind == "positive":
        pattern = (r"^\+?(0{0,11}[1-9][0-9]{0,11}" + _FRACTION
                   + r"|0{1,12}\.([1-9][0-9]{0,3}|0[1-9][0-9]{0,2}|00[1-9][0-9]?|000[1-9]))$")
        number = {"type": "number", "minimum": 0.0001, "maximum": _LIMIT}
        constraint = Field(gt=0)
    elif kind == "non-negative":
        pattern = r"^\+?[0-9]{1,12}" + _FRACTION + "$"
        number = {"type": "number", "minimum": 0, "maximum": _LIMIT}
        constraint = Field(ge=0)
    else:
        pattern = r"^[+-]?[0-9]{1,12}" + _FRACTION + "$"
        number = {"type": "number", "minimum": -_LIMIT, "maximum": _LIMIT}
        constraint = Field()
    schema = {"anyOf": [number, {"type": "string", "pattern": pattern}]}
    return Annotated[Decimal, BeforeValidator(_decimal_input), Field(max_digits=16, decimal_places=4),
                     constraint, WithJsonSchema(schema)]


Money = _amount(kind="signed")
NonNegativeMoney = _amount(kind="non-negative")
Quantity = _amount(kind="signed")
PositiveQuantity = _amount(kind="positive")
ShortText = Annotated[str, StringConstraints(max_length=255, strip_whitespace=True)]
LongText = Annotated[str, StringConstraints(max_length=4000)]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class EntitySchema(BaseModel):
    """Base of every entity payload: unknown fields are refused so typos surface as 422s."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: PosId | None = Field(default=None, description="The POS id; optional in the body, the URL's id wins.")


class Part(BaseModel):
    """Base of the parts inside a payload (lines, payments, addresses)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Address(Part):
    kind: Annotated[str, StringConstraints(pattern=r"^(billing|shipping|postal|street)$")] = Field(default="billing", description="billing, shipping, postal or street.")
    line1: ShortText | None = Field(default=None, description="First address line.")
    line2: ShortText | None = Field(default=None, description="Second address line.")
    city: ShortText | None = Field(default=None, description="Town or city.")
    region: ShortText | None = Field(default=None, description="County, state or region.")
    postcode: Annotated[str, StringConstraints(max_length=32)] | None = Field(default=None, description="Postal code.")
    country: ShortText | None = Field(default=None, description="Country name or code.")
