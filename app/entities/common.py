"""Field types shared by the entity schemas."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

# Words that follow a collection in the URL (/v1/customers/batch, /v1/customers/sync-status): a
# record with such an id could never be read back, so no POS id may be one of them.
ROUTE_WORDS = ("batch", "sync-status")


def _not_a_route_word(value: str) -> str:
    if value.lower() in ROUTE_WORDS:
        raise ValueError(f"'{value}' is a word of the API's URLs ({', '.join(ROUTE_WORDS)}); choose another id")
    return value


PosId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"),
    AfterValidator(_not_a_route_word),
    Field(json_schema_extra={"not": {"enum": list(ROUTE_WORDS)}}),
]
Money = Annotated[Decimal, Field(max_digits=16, decimal_places=4)]
Quantity = Annotated[Decimal, Field(max_digits=16, decimal_places=4)]
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
