"""The `when_changed_in_program` setting: what the next push does with an object the bookkeeper
changed in the program since possync last sent it.

- `pos_wins`: send the POS version over it; the attempt says what it replaced;
- `program_wins`: leave the program's version; the record is skipped with advice;
- `ask`: nothing is sent and the record is red until the shop presses SYNC NOW (which sends the
  POS version) or changes the setting.

Per kind of record, since a contact's phone number edited by the bookkeeper is routine while an
edited invoice changes the books: documents default to `ask`, contacts and items to `pos_wins`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Policy = Literal["pos_wins", "program_wins", "ask"]
KIND_OF = {"customer": "contacts", "supplier": "contacts", "product": "items", "sale": "documents",
           "shift_report": "documents", "purchase_order": "documents"}
_POLICY_DOC = ("pos_wins: the next push overwrites the program's changes and its attempt says what it replaced; "
               "program_wins: the record is skipped with advice; ask: the record is red until SYNC NOW.")


class WhenChangedInProgram(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contacts: Policy = Field(default="pos_wins", description="Customers and suppliers. " + _POLICY_DOC)
    items: Policy = Field(default="pos_wins", description="Products. " + _POLICY_DOC)
    documents: Policy = Field(default="ask", description="Sales, shift summaries and purchase orders. " + _POLICY_DOC)

    def for_entity(self, entity_type: str) -> Policy:
        return getattr(self, KIND_OF[entity_type])
