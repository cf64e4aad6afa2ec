"""The records API, generic over the entity registry: each collection gets its own typed routes."""


import re
import uuid
from typing import Annotated

import orjson
from fastapi import APIRouter, Body, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from app.api.batch_body import read_batch
from app.api.deps import BellDep, ConnectorsDep, IdsDep, SessionDep, SettingsDep, StoreDep
from app.api.params import CursorQuery, LimitQuery, time_query
from app.api.problems import PROBLEM_RESPONSES, Problem
from app.core.heap import collector_paused
from app.core.pagination import checked_time
from app.entities import ENTITY_TYPES, EntityType
from app.entities.canonical import stored_payload
from starlette.convertors import StringConvertor, register_url_convertor

from app.entities.common import ROUTE_WORDS, PosId
from app.models import Record, RunTrigger
from app.observability import metrics
from app.records import listing, service
from app.records.listing import ListFilters
from app.records.schemas import (
    BatchResult,
    LinkStateName,
    RecordPage,
    RecordPublic,
    RunRef,
    StatusList,
    Symbol,
    SyncNowAccepted,
    SyncPanel,
)
from app.runs import pages
from app.runs.schemas import AttemptPage
from app.sync.ingest import mark_deleted, upsert_records
from app.sync.sync_now import request_sync_now

MAX_BATCH = 1000
MAX_STATUS_IDS = 200
# One or more POS ids, comma-separated (spaces allowed around them); an empty list is no list.
IDS_PATTERN = r"^\s*[A-Za-z0-9][A-Za-z0-9._:\-]*\s*(,\s*[A-Za-z0-9][A-Za-z0-9._:\-]*\s*)*$"


class PosIdConvertor(StringConvertor):
    """A path segment that is a POS id, never a word of the routes: so PUT /v1/customers/batch is
    a 405 (only POST takes that path) rather than a record nobody could read back."""

    regex = "(?!(?i:" + "|".join(re.escape(w) for w in ROUTE_WORDS) + ")(?:/|$))[^/]+"


register_url_convertor("pos_id", PosIdConvertor())


class SyncNowRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    connection_id: uuid.UUID | None = Field(default=None, description="Only this connection; default: every one.")


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)
    for entity_type in ENTITY_TYPES.values():
        _add_collection(router, entity_type)
    return router


async def _ring(bell, connection_ids) -> None:
    for connection_id in connection_ids:
        await bell.ring(connection_id, trigger=RunTrigger.INGEST)


async def _require(session, store, et: EntityType, pos_id: str) -> Record:
    record = await service.get_record(session=session, store_id=store.id, entity_type=et.name, pos_id=pos_id)
    if record is None:
        raise Problem(404, f"No {et.title.lower()} with id '{pos_id}'.")
    return record


async def _public(session, record: Record) -> RecordPublic:
    return RecordPublic(
        id=record.pos_id,
        entity_type=record.entity_type,
        payload=record.payload,
        content_hash=record.content_hash,
        created_at=record.created_at,
        updated_at=record.updated_at,
        deleted_at=record.deleted_at,
        sync=await service.panel(session=session, record_id=record.id),
    )


def _add_collection(router: APIRouter, et: EntityType) -> None:  # noqa: C901 - one closure per route
    schema = et.schema
    path = f"/{et.collection}"
    tag = et.title + "s"
    noun = et.title.lower()
    PosIdHere = Annotated[PosId, Path(description="The record's id in the POS.", examples=[et.example["id"]])]

    async def put_record(
        pos_id: PosIdHere,
        body: Annotated[schema, Body(openapi_examples={"example": {"summary": noun, "value": et.example},
                                                       **et.more_examples})],
        store: StoreDep,
        session: SessionDep,
        connectors: ConnectorsDep,
        bell: BellDep,
        response: Response,
    ) -> RecordPublic:
        if body.id is not None and body.id != pos_id:
            raise Problem(
                422,
                f"The body's id '{body.id}' differs from the URL's '{pos_id}'.",
                errors=[{"path": "body.id", "message": "must equal the id in the URL", "type": "id_mismatch"}],
            )
        payload = stored_payload(body, pos_id)
        async with session.begin():
            (result,), rung = await upsert_records(
                session, store_id=store.id, entity_type=et.name, payloads={pos_id: payload},
                connectors=connectors,
            )
        await _ring(bell, rung)
        metrics.RECORDS_INGESTED.labels(et.name, "created" if result.created else "updated").inc()
        response.status_code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        record = await session.get(Record, result.record_id, populate_existing=True)
        return await _public(session, record)

    async def batch_upsert(
        store: StoreDep,
        session: SessionDep,
        connectors: ConnectorsDep,
        bell: BellDep,
        request: Request,
    ) -> BatchResult:
        # The body is documented by `_batch_schema` and read here from its bytes (app.api.batch_body).
        body = await request.body()
        with collector_paused():
            ids, payloads, refusals = read_batch(schema, body, MAX_BATCH)
        ingested = {}
        if payloads:
            async with session.begin():
                done, rung = await upsert_records(
                    session, store_id=store.id, entity_type=et.name, payloads=payloads, connectors=connectors
                )
            await _ring(bell, rung)
            ingested = {i.pos_id: i for i in done}
        # Plain dicts, answered as they are: values made here need no validation (a pydantic
        # object per item, then the response model's pass over them, cost more than the check).
        results = []
        created = 0
        for position, item_id in enumerate(ids):
            refusal = refusals.get(position)
            if refusal is not None:
                results.append(refusal.model_dump())
                continue
            stored = ingested[item_id]
            created += stored.created
            results.append({"id": stored.pos_id, "status": 201 if stored.created else 200,
                            "changed": stored.changed, "errors": None})
        # Counted once per batch: a labelled increment per item took longer than the validation.
        metrics.RECORDS_INGESTED.labels(et.name, "created").inc(created)
        metrics.RECORDS_INGESTED.labels(et.name, "updated").inc(len(ingested) - created)
        # orjson wrote the 1,000 results in a sixteenth of json.dumps's time (JSONResponse's encoder).
        return Response(orjson.dumps({"accepted": len(ids) - len(refusals), "refused": len(refusals), "items": results}),
                        media_type="application/json")

    async def get_record(pos_id: PosIdHere, store: StoreDep, session: SessionDep) -> RecordPublic:
        return await _public(session, await _require(session, store, et, pos_id))

    async def delete_record(pos_id: PosIdHere, store: StoreDep, session: SessionDep, connectors: ConnectorsDep, bell: BellDep) -> RecordPublic:
        async with session.begin():
            record = await _require(session, store, et, pos_id)
            rung = await mark_deleted(session, record=record, connectors=connectors)
        await _ring(bell, rung)
        record = await session.get(Record, record.id, populate_existing=True)
        return await _public(session, record)

    async def sync_status(
        store: StoreDep,
        session: SessionDep,
        ids: Annotated[str, Query(description=f"Comma-separated POS ids, at most {MAX_STATUS_IDS}.",
                                  pattern=IDS_PATTERN, examples=[f"{et.example['id']}"])],
    ) -> dict:
        wanted = list(dict.fromkeys(i.strip() for i in ids.split(",") if i.strip()))
        if not wanted or len(wanted) > MAX_STATUS_IDS:
            raise Problem(422, f"Give between 1 and {MAX_STATUS_IDS} ids; got {len(wanted)}.",
                          errors=[{"path": "query.ids", "message": f"1 to {MAX_STATUS_IDS} ids", "type": "length"}])
        items = await service.statuses(session=session, store_id=store.id, entity_type=et.name, pos_ids=wanted)
        return {"items": items}  # checked and serialised as a StatusList (the route's response model)

    search_doc = "Text to find in the POS id or " + (", ".join(et.search_fields) or "the id") + \
        " (case-insensitive)."
    date_doc = f"Only {noun}s whose {et.date_field} is" if et.date_field else ""

    async def list_view(
        store: StoreDep,
        session: SessionDep,
        ids: IdsDep,
        symbol: Annotated[Symbol | None, Query(description="Only lines with this sync symbol.")] = None,
        state: Annotated[LinkStateName | None, Query(
            description="Only records in this state on some connection (on `connection_id` if given).")] = None,
        connection_id: Annotated[uuid.UUID | None, Query(description="With `state`: that connection only.")] = None,
        updated_since: Annotated[str | None, time_query("Only records changed since then.")] = None,
        q: Annotated[str | None, Query(min_length=1, max_length=100, description=search_doc)] = None,
        date_from: Annotated[str | None, time_query(date_doc + " from (inclusive).")] = None,
        date_to: Annotated[str | None, time_query(date_doc + " to (exclusive).")] = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = 50,
    ) -> RecordPage:
        filters = ListFilters(symbol=symbol, state=state, connection_id=connection_id,
                              updated_since=checked_time(updated_since, "query.updated_since"), q=q,
                              date_from=checked_time(date_from, "query.date_from"),
                              date_to=checked_time(date_to, "query.date_to"))
        return await listing.list_records(session=session, store_id=store.id, et=et, filters=filters,
                                          cursor=cursor, limit=limit, ids=ids)

    if not et.date_field:
        list_view = _without_dates(list_view)

    async def sync_panel(pos_id: PosIdHere, store: StoreDep, session: SessionDep) -> SyncPanel:
        record = await _require(session, store, et, pos_id)
        return await service.panel(session=session, record_id=record.id)

    async def sync_now(
        pos_id: PosIdHere,
        store: StoreDep,
        session: SessionDep,
        connectors: ConnectorsDep,
        settings: SettingsDep,
        bell: BellDep,
        body: Annotated[SyncNowRequest | None, Body()] = None,
    ) -> SyncNowAccepted:
        connection_id = body.connection_id if body else None
        async with session.begin():
            record = await _require(session, store, et, pos_id)
            runs = await request_sync_now(session, record=record, connectors=connectors,
                                          connection_id=connection_id, lease_s=settings.claim_lease_s)
            if not runs:
                which = f"connection {connection_id}" if connection_id else "connection"
                raise Problem(409, f"No active {which} of this store syncs {noun}s.")
        for run in runs:
            await bell.ring(run.connection_id, trigger=RunTrigger.SYNC_NOW, run_id=run.id)
        refs = [RunRef(run_id=r.id, connection_id=r.connection_id) for r in runs]
        return SyncNowAccepted(run_id=refs[0].run_id, runs=refs)

    async def sync_logs(
        pos_id: PosIdHere,
        store: StoreDep,
        session: SessionDep,
        ids: IdsDep,
        cursor: CursorQuery = None,
        limit: LimitQuery = 50,
    ) -> AttemptPage:
        record = await _require(session, store, et, pos_id)
        return await pages.attempts_page(session=session, record_id=record.id, cursor=cursor, limit=limit, ids=ids)

    name = et.name
    router.add_api_route(path, list_view, methods=["GET"], tags=[tag], name=f"list_{name}",
                         summary=f"The {noun}s list screen: symbol and state per line, newest first")
    router.add_api_route(f"{path}/batch", batch_upsert, methods=["POST"], tags=[tag], response_model=BatchResult,
                         name=f"batch_upsert_{name}", summary=f"Upsert up to {MAX_BATCH} {noun}s",
                         openapi_extra=_batch_schema(schema, et.example, noun))
    router.add_api_route(f"{path}/sync-status", sync_status, methods=["GET"], tags=[tag], response_model=StatusList,
                         name=f"sync_status_{name}", summary=f"Sync symbols of many {noun}s")
    router.add_api_route(f"{path}/{{pos_id:pos_id}}", put_record, methods=["PUT"], tags=[tag], name=f"put_{name}",
                         summary=f"Create or update a {noun}",
                         responses={200: {"description": "Updated (or unchanged)"}, 201: {"description": "Created"}})
    router.add_api_route(f"{path}/{{pos_id:pos_id}}", get_record, methods=["GET"], tags=[tag], name=f"get_{name}",
                         summary=f"The {noun} as stored")
    router.add_api_route(f"{path}/{{pos_id:pos_id}}", delete_record, methods=["DELETE"], tags=[tag], name=f"delete_{name}",
                         summary=f"The {noun} is gone from the POS",
                         description="Each connected program archives, voids or deletes what it allows; where it "
                         "refuses, the Sync panel says what to do by hand. The record keeps its history and "
                         "panel (`deleted_at` set); sending it again brings it back.")
    router.add_api_route(f"{path}/{{pos_id:pos_id}}/sync", sync_panel, methods=["GET"], tags=[tag],
                         name=f"sync_panel_{name}", summary="Sync panel")
    router.add_api_route(f"{path}/{{pos_id:pos_id}}/sync", sync_now, methods=["POST"], tags=[tag], status_code=202,
                         name=f"sync_now_{name}", summary="SYNC NOW",
                         responses={409: PROBLEM_RESPONSES[409] | {"description": "Nothing syncs this record"}})
    router.add_api_route(f"{path}/{{pos_id:pos_id}}/sync/logs", sync_logs, methods=["GET"], tags=[tag],
                         name=f"sync_logs_{name}", summary="REFRESH LOGS: attempts, newest first")


def _without_dates(handler):
    """The same list handler without the date range (for collections with no date)."""
    import inspect

    signature = inspect.signature(handler)
    params = [p for name, p in signature.parameters.items() if name not in ("date_from", "date_to")]

    async def list_view(**kwargs):
        return await handler(**kwargs, date_from=None, date_to=None)

    list_view.__signature__ = signature.replace(parameters=params)
    list_view.__annotations__ = {k: v for k, v in handler.__annotations__.items() if k not in ("date_from", "date_to")}
    return list_view


def _batch_schema(schema, example: dict, noun: str) -> dict:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "examples": {"example": {"summary": f"{noun}s", "value": {"items": [example]}}},
                    "schema": {
                        "type": "object",
                        "required": ["items"],
                        "properties": {
                            "items": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": MAX_BATCH,
                                # Per item, not per request: an item that does not fit its
                                # schema is refused on its own (422 in its result), the rest
                                # stored; so at the request level any object is an item.
                                "items": {"type": "object", "description": (
                                    f"A {schema.__name__} (see that schema) with its POS `id`.")},
                            }
                        },
                    }
                }
            },
        }
    }
