"""`possync serve` freezes its start-up heap (app.core.heap): the collector's full passes during a
batch write then skip the objects that live as long as the process."""

from __future__ import annotations

import gc

from app.cli import serving_app


def test_serve_freezes_the_heap_after_building_the_app(settings):
    gc.unfreeze()
    try:
        app = serving_app(settings)
        frozen = gc.get_freeze_count()
        assert app.openapi_schema is not None  # built before the freeze, so frozen with the rest
        assert frozen > 10_000
        # What is made afterwards is collected as usual.
        garbage = []
        garbage.append(garbage)
        del garbage
        assert gc.collect() >= 1
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()  # the test process's heap goes back to normal collection
