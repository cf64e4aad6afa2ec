"""Keep the start-up heap out of the cyclic garbage collector's way.

A process that has imported FastAPI, SQLAlchemy, pydantic and built the app holds about 200,000
tracked objects that live as long as it does. Every full collection walks all of them, and a batch
write allocates enough (about ten objects per item: models, dicts, lists) to trigger several: in a
1,000-customer batch, `validate_json` took 15 ms with the collector on and 7.5 ms with the start-up
objects frozen (moved to the permanent generation, which collections skip). Objects made later
are collected as before; only what exists at start-up is never examined again.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect what start-up left over, then freeze the rest; returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
