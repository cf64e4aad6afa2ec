"""The fault suite: possync under killed workers, a killed API, Redis and PostgreSQL outages,
failing program calls and write contention, checked object by object.

    possync fault-suite                                   # every scenario, full size
    .venv/bin/python -m bench.faults                      # the same
    .venv/bin/python -m bench.faults --scenarios sigkill,pg-restart,redis-down --scale 0.2   # what CI runs

It starts everything it needs and touches nothing else: its own PostgreSQL cluster (initdb and
pg_ctl, in a temp folder, on a free port of 127.0.0.1), its own redis-server on a free port, the
API (`possync serve`, uvicorn) and three `possync worker` processes, all with default settings
(the sandbox program answers each call after POSSYNC_SANDBOX_LATENCY_MS, 20 ms here, so workers
are mid-call when they are hit). Each scenario writes its own records, applies its fault, and then
waits for all green: every acknowledged record stored with its last content, exactly one object
per record in the program with that content, every link green, no run left queued or running.
It prints the time from the end of the fault to all green, and exits 1 if any check fails or
green is not reached within --settle-bound seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from glob import glob
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from app.connectors.sandbox.connector import KINDS
from app.models import Link, Record, Run, SandboxObject
from bench.harness import POSSYNC, REPO, free_port
from bench.payloads import COLLECTION, ORDER, Generator, mixed_counts
from bench.programs import PROGRAMS, Program

WORKERS = 3
LATENCY_MS = 20
POLL_S = 0.5
WRITE_CHUNK = 50
PROGRAM_FAULT_RATE = 0.2
PROGRAM_KILL_EVERY_S = 10
MAX_CALL_RATIO = 1.5  # calls made ≤ this × the minimal number, against a fake program
call_ratio_bound = [MAX_CALL_RATIO]  # this run's bound (--max-call-ratio)


@dataclass
class Outcome:
    scenario: str
    records: int
    fault: str
    lost: int = 0
    duplicated: int = 0
    wrong_content: int = 0
    red: int = 0
    runs_open: int = 0
    answered_500: int = 0
    answered_503: int = 0
    green_after_s: float | None = None
    calls_made: int | None = None  # calls to a fake program (xero, quickbooks) during the scenario
    calls_minimal: int | None = None  # what the same records need with nothing going wrong
    calls_windowed: int | None = None  # of those, the ones the program's minute window counts
    # A drain from its first call to the program until its last record turned green (server clocks).
    drain_wall_s: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        calls_ok = self.calls_minimal is None or self.calls_made <= call_ratio_bound[0] * self.calls_minimal
        return calls_ok and (self.green_after_s is not None and not (
            self.lost or self.duplicated or self.wrong_content or self.red or self.runs_open or self.answered_500))


# --- the services -------------------------------------------------------------------------------


class Services:
    """PostgreSQL, Redis, the API and the workers of this run, as child processes of it."""

    def __init__(self, folder: Path, pg_bin: Path, program: Program | None = None) -> None:
        self.folder, self.pg_bin = folder, pg_bin
        self.pg_port, self.redis_port, self.api_port = free_port(), free_port(), free_port()
        self.pg_home = folder / "pg"
        self.pg_data = self.pg_home / "data"
        self.redis: subprocess.Popen | None = None
        self.api: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen | None] = [None] * WORKERS
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("POSSYNC_", "DATABASE_URL", "REDIS_URL"))},
            "DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{self.pg_port}/postgres",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "POSSYNC_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "POSSYNC_LOG_LEVEL": "WARNING",
            "POSSYNC_SANDBOX_LATENCY_MS": str(LATENCY_MS),
            "PYTHONPATH": str(REPO),
            "POSSYNC_PUBLIC_URL": f"http://127.0.0.1:{self.api_port}",
            **(program.env() if program is not None else {}),
        }

    # PostgreSQL (refuses to run as root: then as the system's postgres user, in a folder it owns)
    def _as_pg(self) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def pg_init(self) -> None:
        self.pg_home.mkdir()
        if os.geteuid() == 0:
            import pwd

            os.chmod(self.folder, 0o755)
            user = pwd.getpwnam("postgres")
            os.chown(self.pg_home, user.pw_uid, user.pw_gid)
        subprocess.run([*self._as_pg(), self.pg_bin / "initdb", "-D", self.pg_data, "-U", "postgres",
                        "--auth=trust", "-E", "UTF8"], check=True, stdout=subprocess.DEVNULL, timeout=120)

    def pg_ctl(self, *args: str) -> None:
        options = (f"-p {self.pg_port} -c listen_addresses=127.0.0.1 -k {self.pg_home} -c fsync=off "
                   "-c max_connections=200")
        subprocess.run([*self._as_pg(), self.pg_bin / "pg_ctl", "-D", self.pg_data, "-l", self.pg_home / "pg.log",
                        "-o", options, "-w", "-t", "60", *args], check=True, stdout=subprocess.DEVNULL, timeout=90)

    # Redis
    def redis_start(self) -> None:
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=open(self.folder / "redis.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True)  # noqa: SIM115
        _wait(lambda: subprocess.run(["redis-cli", "-p", str(self.redis_port), "ping"], capture_output=True,
                                     timeout=5).stdout.strip() == b"PONG", 30, "redis-server")

    def redis_stop(self) -> None:
        _stop(self.redis, signal.SIGKILL)
        self.redis = None

    # possync
    def _possync(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        return subprocess.Popen(POSSYNC + args, cwd=REPO, env={**self.env, **(extra_env or {})}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def run_possync(self, args: list[str]) -> str:
        done = subprocess.run(POSSYNC + args, cwd=REPO, env=self.env, capture_output=True, timeout=120, check=True)
        return done.stdout.decode()

    def api_start(self) -> None:
        self.api = self._possync("api", ["serve", "--host", "127.0.0.1", "--port", str(self.api_port)])

    def worker_start(self, n: int, extra_env: dict[str, str] | None = None) -> None:
        self.workers[n] = self._possync(f"worker-{n + 1}", ["worker"], extra_env)

    def worker_signal(self, n: int, sig: signal.Signals) -> None:
        _stop(self.workers[n], sig)

    def stop_all(self) -> None:
        for proc in [self.api, *self.workers]:
            _stop(proc, signal.SIGTERM)
        self.redis_stop()
        with contextlib.suppress(Exception):
            self.pg_ctl("stop", "-m", "immediate")


def _stop(proc: subprocess.Popen | None, sig: signal.Signals) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _wait(probe, bound_s: float, what: str) -> None:
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if probe():
                return
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not come up within {bound_s:.0f}s")


# --- the POS side -------------------------------------------------------------------------------


class Pos:
    """Writes records like a POS would: retries until a 2xx, remembers what was acknowledged."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.acknowledged: dict[tuple[str, str], dict] = {}
        self.statuses: Counter = Counter()

    async def write(self, entity_type: str, items: list[dict], *, bound_s: float = 300) -> None:
        deadline = time.monotonic() + bound_s
        while True:
            try:
                response = await self.client.post(f"/v1/{COLLECTION[entity_type]}/batch", json={"items": items})
                self.statuses[response.status_code] += 1
                if response.status_code == 200:
                    for item in items:
                        self.acknowledged[(entity_type, item["id"])] = item
                    return
            except httpx.TransportError:
                self.statuses["transport"] += 1  # the API is down or restarting: nothing acknowledged
            if time.monotonic() > deadline:
                raise TimeoutError("writes were not acknowledged within the bound")
            await asyncio.sleep(0.5)

    async def sync_now(self, entity_type: str, pos_id: str) -> None:
        with contextlib.suppress(httpx.TransportError):
            response = await self.client.post(f"/v1/{COLLECTION[entity_type]}/{pos_id}/sync")
            self.statuses[f"sync_now {response.status_code}"] += 1


def records(prefix: str, total: int, seed: int) -> list[tuple[str, dict]]:
    gen = Generator(prefix=prefix, seed=seed)
    out = []
    for entity_type, n in mixed_counts(total).items():
        out += [(entity_type, gen.make(entity_type)) for _ in range(n)]
    return out


async def write_all(pos: Pos, recs: list[tuple[str, dict]], *, pause_s: float = 0.0) -> None:
    """In dependency order, WRITE_CHUNK records per call."""
    for entity_type in ORDER:
        items = [payload for t, payload in recs if t == entity_type]
        for start in range(0, len(items), WRITE_CHUNK):
            await pos.write(entity_type, items[start : start + WRITE_CHUNK])
            if pause_s:
                await asyncio.sleep(pause_s)


# --- the checks ---------------------------------------------------------------------------------


async def check(engine, pos: Pos, prefix: str, outcome: Outcome, program: Program | None = None, *,
                full: bool = False) -> bool:
    """Fill the outcome's counts for this scenario's records; True when all is green. Unless `full`,
    it stops at a count while links are still unsettled (see below)."""
    # While links are still pending one count says so. The full check (every record, every object
    # the program holds) runs once they have all settled: it reads the fake program in this very
    # process, and every two seconds it would take the fake's CPU in the middle of the measurement.
    async with engine.connect() as conn:
        unsettled = await conn.scalar(
            select(func.count()).select_from(Link).join(Record, Record.id == Link.record_id)
            .where(Record.pos_id.like(f"{prefix}%"), Link.state.not_in(["synced", "skipped"])))
    if unsettled and not full:
        outcome.red = unsettled
        return False
    wanted = {key: payload for key, payload in pos.acknowledged.items() if key[1].startswith(prefix)}
    async with engine.connect() as conn:
        stored = {(r.entity_type, r.pos_id): r for r in (await conn.execute(
            select(Record.id, Record.entity_type, Record.pos_id, Record.payload, Record.content_hash)
            .where(Record.pos_id.like(f"{prefix}%")))).all()}
        links = (await conn.execute(
            select(Link.record_id, Link.state, Link.attempted_hash, Link.external_id).where(Link.record_id.in_([r.id for r in stored.values()]))
        )).all() if stored else []
        objects = (await conn.execute(
            select(SandboxObject.kind, SandboxObject.reference, SandboxObject.data)
            .where(SandboxObject.reference.like(f"{prefix}%")))).all()
        runs_open = await conn.scalar(select(func.count()).select_from(Run).where(Run.status.in_(["queued", "running"])))
    outcome.lost = sum(1 for key in wanted if key not in stored)
    outcome.runs_open = runs_open
    hashes = {r.id: r.content_hash for r in stored.values()}
    outcome.red = sum(1 for link in links if link.state not in ("synced", "skipped")
                      or (link.state == "synced" and link.attempted_hash != hashes[link.record_id]))
    linked = {link.record_id for link in links}
    outcome.red += sum(1 for r in stored.values() if r.id not in linked)
    if program is not None:
        external = {link.record_id: link.external_id for link in links if link.state == "synced"}
        found = program.check([(r.entity_type, r.pos_id, r.payload, external.get(r.id)) for r in stored.values()])
        outcome.duplicated, outcome.wrong_content = found.duplicated, found.wrong_content + found.missing
        return not (outcome.red or outcome.runs_open or outcome.lost)
    by_ref: dict[tuple[str, str], list[dict]] = {}
    for kind, reference, data in objects:
        by_ref.setdefault((kind, reference), []).append(data)
    synced = {link.record_id for link in links if link.state == "synced"}
    outcome.duplicated = sum(len(found) - 1 for found in by_ref.values() if len(found) > 1)
    outcome.wrong_content = 0
    for (entity_type, pos_id), record in stored.items():
        if record.id not in synced:
            continue
        found = by_ref.get((KINDS[entity_type], pos_id), [])
        if len(found) != 1 or any(found[0].get(k) != v for k, v in record.payload.items() if k != "name"):
            outcome.wrong_content += 1
    return not (outcome.red or outcome.runs_open or outcome.lost)


async def settle(engine, pos: Pos, prefix: str, outcome: Outcome, fault_ended: float, bound_s: float,
                 program: Program | None = None) -> None:
    while True:
        if await check(engine, pos, prefix, outcome, program) and not outcome.wrong_content:
            outcome.green_after_s = round(time.monotonic() - fault_ended, 1)
            return
        if time.monotonic() - fault_ended > bound_s:
            await check(engine, pos, prefix, outcome, program, full=True)  # every count, not only the red
            outcome.notes.append(f"not green {bound_s:.0f}s after the fault: {await _red_links(engine, prefix)}")
            return
        # Against a fake program the checks read its books in this process: less often, so the
        # fake (a thread of this process) keeps its pace.
        await asyncio.sleep(POLL_S if program is None else 4 * POLL_S)


async def _red_links(engine, prefix: str) -> dict[str, int]:
    """What the red links of a scenario say, to tell why it is not green."""
    async with engine.connect() as conn:
        rows = (await conn.execute(
            select(Link.state, Link.error_code, Link.retries, Link.claimed_until)
            .join(Record, Record.id == Link.record_id)
            .where(Record.pos_id.like(f"{prefix}%"), Link.state.not_in(["synced", "skipped"])))).all()
    return dict(Counter(f"{state}/{code}/many_retries={retries > 3}/claimed={held is not None}"
                        for state, code, retries, held in rows))


# --- the scenarios ------------------------------------------------------------------------------


async def sigkill(ctx: Ctx, size: int) -> tuple[Outcome, float]:
    """SIGKILL a random worker every 2 s (restarting it) while records are written; kill the API once."""
    recs = records("K", size, 1)
    out = Outcome("sigkill", len(recs), "SIGKILL a random worker every 2 s during the writes; the API once")
    chunks = sum(-(-n // WRITE_CHUNK) for n in mixed_counts(len(recs)).values())
    # Spread the writes over at least 8 s, so every kill lands while records arrive (any size).
    writing = asyncio.create_task(write_all(ctx.pos, recs, pause_s=max(0.05, 8.0 / chunks)))
    kills, api_killed, last_kill = 0, False, time.monotonic()
    while not writing.done() or kills < 3:
        await asyncio.sleep(2)
        n = random.randrange(WORKERS)
        ctx.services.worker_signal(n, signal.SIGKILL)
        ctx.services.worker_start(n)
        kills += 1
        if not api_killed and kills == 2:
            _stop(ctx.services.api, signal.SIGKILL)
            ctx.services.api_start()
            api_killed = True
        last_kill = time.monotonic()
    await writing
    out.notes.append(f"{kills} worker kills")
    return out, last_kill


async def _mid_drain(engine, prefix: str, bound_s: float = 30.0) -> None:
    """Wait until the workers have pushed some of the scenario's records (bounded)."""
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        async with engine.connect() as conn:
            synced = await conn.scalar(
                select(func.count()).select_from(Link).join(Record, Record.id == Link.record_id)
                .where(Record.pos_id.like(f"{prefix}%"), Link.state == "synced"))
        if synced:
            return
        await asyncio.sleep(0.05)


async def redis_outage(ctx: Ctx, size: int) -> tuple[Outcome, float]:
    recs = records("R", size, 2)
    out = Outcome("redis-down", len(recs), "Redis stopped 20 s during the writes and SYNC NOWs")
    ctx.services.redis_stop()
    started = time.monotonic()
    await write_all(ctx.pos, recs)
    for entity_type, payload in recs[:: max(1, len(recs) // 20)]:
        await ctx.pos.sync_now(entity_type, payload["id"])
    await asyncio.sleep(max(0.0, 20 - (time.monotonic() - started)))
    ctx.services.redis_start()
    return out, time.monotonic()


async def pg_restart(ctx: Ctx, size: int) -> tuple[Outcome, float]:
    recs = records("P", size, 3)
    out = Outcome("pg-restart", len(recs), "pg_ctl restart -m fast mid-drain")
    await write_all(ctx.pos, recs)
    await _mid_drain(ctx.engine, "P")
    await asyncio.to_thread(ctx.services.pg_ctl, "restart", "-m", "fast")
    return out, time.monotonic()


async def pg_stop(ctx: Ctx, size: int) -> tuple[Outcome, float]:
    recs = records("S", size, 4)
    out = Outcome("pg-down", len(recs), "PostgreSQL stopped 10 s during writes")
    half = len(recs) // 2
    await write_all(ctx.pos, recs[:half])
    await asyncio.to_thread(ctx.services.pg_ctl, "stop", "-m", "fast")
    writing = asyncio.create_task(write_all(ctx.pos, recs[half:]))  # answered 503 until it is back
    await asyncio.sleep(10)
    await asyncio.to_thread(ctx.services.pg_ctl, "start")
    ended = time.monotonic()
    await writing
    return out, ended


async def sigterm(ctx: Ctx, size: int) -> tuple[Outcome, float]:
    recs = records("T", size, 5)
    out = Outcome("sigterm", len(recs), "SIGTERM a worker mid-batch")
    await write_all(ctx.pos, recs)
    await _mid_drain(ctx.engine, "T")
    n = random.randrange(WORKERS)
    ctx.services.worker_signal(n, signal.SIGTERM)
    ended = time.monotonic()
    ctx.services.worker_start(n)
    return out, ended


async def program_faults(ctx: Ctx, size: int) -> tuple[Outcome, float]:
    if ctx.program is not None:
        return await fake_program_faults(ctx, size)
    recs = records("F", size, 6)
    out = Outcome("program-faults", len(recs), "20% of program calls fail (half with the work done)")
    for n in range(WORKERS):
        ctx.services.worker_signal(n, signal.SIGTERM)
        ctx.services.worker_start(n, {"POSSYNC_SANDBOX_FAULT_RATE": "0.2"})
    await write_all(ctx.pos, recs)
    ended = time.monotonic()
    return out, ended


async def fake_program_faults(ctx: Ctx, size: int) -> tuple[Outcome, float]:
    """20% of the fake program's calls go wrong (seeded: 500, 502, 429, time-out, reset, malformed
    JSON) under its real limits, and a random worker is SIGKILLed every 10 s until all is green."""
    recs = records("F", size, 6)
    program = ctx.program
    kills = f"a worker SIGKILLed every {ctx.kill_every_s:g} s" if ctx.kill_every_s else "no worker kills"
    out = Outcome("program-faults", len(recs), f"{PROGRAM_FAULT_RATE:.0%} of {program.name} calls fail; {kills}")
    ctx.calls_before = program.api_calls()
    chaos = program.chaos(PROGRAM_FAULT_RATE, seed=6)
    ctx.kills = 0
    ctx.background = Killer(ctx)
    ctx.after = lambda: out.notes.append(
        f"{ctx.kills} worker kills; faults injected: {dict(chaos.counts)}")
    await write_all(ctx.pos, recs)
    return out, time.monotonic()


async def drain(ctx: Ctx, size: int) -> tuple[Outcome, float]:
    """No fault: a backlog drains through a fake program at its real limits. The workers are
    stopped while the POS writes it, and the clock starts as they start again, so "all green
    after" is the drain's own wall time, not the pace of the writes."""
    if ctx.program is None:
        raise SystemExit("the drain scenario needs a fake program: --program xero or --program quickbooks")
    recs = records("D", size, 8)
    out = Outcome("drain", len(recs), f"none: a backlog to {ctx.program.name} at its real limits, "
                                      "from the workers' start")
    ctx.program.chaos(0, 0)
    for n in range(WORKERS):
        ctx.services.worker_signal(n, signal.SIGTERM)
    await write_all(ctx.pos, recs)
    ctx.calls_before = ctx.program.api_calls()
    started = time.monotonic()
    for n in range(WORKERS):
        ctx.services.worker_start(n)
    return out, started


def _drain_note(ctx: Ctx, outcome: Outcome) -> None:
    floor_s = ctx.program.floor_s(outcome.calls_windowed or 0)
    wall_s = outcome.drain_wall_s
    share = f"{floor_s / wall_s:.2f}" if wall_s and floor_s else "n/a (within one window)"
    outcome.notes.append(f"wall {wall_s} s from the first call to the program to the last record green "
                         f"({outcome.green_after_s} s from the workers' start, their start-up included); the "
                         f"limit's floor for {outcome.calls_windowed} calls at {ctx.program.calls_per_minute} a "
                         f"minute: {floor_s:.0f} s; floor ÷ wall {share}")


async def _drain_wall(engine, ctx: Ctx, prefix: str, outcome: Outcome) -> None:
    """The drain's own time: its first call reaching the program (the floor counts from there too)
    to the last of its records green (the link's last sync), both this machine's clock; and when
    each window's worth of calls began."""
    calls = [c.at for c in ctx.program.fake.calls[ctx.calls_before:]]
    async with engine.connect() as conn:
        last = await conn.scalar(select(func.max(Link.last_synced_at)).join(Record, Record.id == Link.record_id)
                                 .where(Record.pos_id.like(f"{prefix}%")))
    if not calls or last is None:
        return
    start = min(calls)
    outcome.drain_wall_s = round(last.timestamp() - start, 1)
    windows = ", ".join(f"call {n + 1} at +{calls[n] - start:.1f} s"
                        for n in range(0, len(calls), ctx.program.calls_per_minute))
    outcome.notes.append(f"each window's worth of calls began: {windows}; the last call at +{max(calls) - start:.1f} s")


async def contention(ctx: Ctx, size: int) -> tuple[Outcome, float]:
    duration_s = max(5.0, 30 * ctx.scale)
    gen = Generator(prefix="W", seed=7)
    base = [gen.make("customer") for _ in range(20)]
    out = Outcome("contention", len(base), f"50 clients write the same 20 records for {duration_s:.0f} s")

    async def client(n: int) -> None:
        rng = random.Random(n)
        stop_at = time.monotonic() + duration_s
        while time.monotonic() < stop_at:
            items = [{**r, "last_name": f"Writer {n} {rng.random():.6f}"} for r in rng.sample(base, 5)]
            await ctx.pos.write("customer", items)

    await asyncio.gather(*(client(n) for n in range(50)))
    return out, time.monotonic()


SCENARIOS = {
    "sigkill": (sigkill, 2000), "redis-down": (redis_outage, 500), "pg-restart": (pg_restart, 1000),
    "pg-down": (pg_stop, 500), "sigterm": (sigterm, 500), "program-faults": (program_faults, 1000),
    "contention": (contention, 20), "drain": (drain, 5000),
}


class Killer(threading.Thread):
    """SIGKILLs a random worker every PROGRAM_KILL_EVERY_S (restarting it) until cancelled: a
    thread of its own, so the kills keep their pace however busy the checks keep the event loop."""

    def __init__(self, ctx: Ctx) -> None:
        super().__init__(name="killer", daemon=True)
        self.ctx, self.stopped = ctx, threading.Event()
        self.start()

    def run(self) -> None:
        every_s = self.ctx.kill_every_s
        while every_s and not self.stopped.wait(every_s):
            n = random.randrange(WORKERS)
            self.ctx.services.worker_signal(n, signal.SIGKILL)
            self.ctx.services.worker_start(n)
            self.ctx.kills += 1

    def cancel(self) -> None:
        self.stopped.set()
        self.join()


@dataclass
class Ctx:
    services: Services
    pos: Pos
    engine: object
    scale: float
    program: Program | None = None
    background: Killer | None = None  # a fault that lasts until green (cancelled then)
    after: object = None  # notes to add once green
    calls_before: int = 0
    kills: int = 0
    kill_every_s: float = PROGRAM_KILL_EVERY_S


# --- running it ---------------------------------------------------------------------------------


def pg_bin_default() -> str:
    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return str(Path(found[-1]).parent) if found else ""


async def run(args: argparse.Namespace) -> list[Outcome]:
    folder = Path(tempfile.mkdtemp(prefix="possync-faults-"))
    program = PROGRAMS[args.program]() if args.program != "sandbox" else None
    if program is not None:
        program.start()
    services = Services(folder, Path(args.pg_bin), program)
    outcomes: list[Outcome] = []
    engine = None
    ctx: Ctx | None = None
    try:
        services.pg_init()
        services.pg_ctl("start")
        services.redis_start()
        services.run_possync(["migrate"])
        key = services.run_possync(["store", "create", "Fault suite"]).strip().splitlines()[-1]
        services.api_start()
        for n in range(WORKERS):
            services.worker_start(n)
        engine = create_async_engine(services.env["DATABASE_URL"], pool_pre_ping=True)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{services.api_port}", headers=headers,
                                     timeout=httpx.Timeout(30.0)) as client:
            _wait_sync = asyncio.to_thread(_wait, lambda: httpx.get(
                f"http://127.0.0.1:{services.api_port}/readyz", timeout=2).status_code == 200, 60, "the API")
            await _wait_sync
            if program is None:
                response = await client.post("/v1/connections", json={"connector": "sandbox"})
                response.raise_for_status()
            else:
                await program.connect(client)
            ctx = Ctx(services, Pos(client), engine, args.scale, program, kill_every_s=args.kill_every)
            for name in args.scenarios:
                scenario, full_size = SCENARIOS[name]
                if name == "program-faults" and program is not None:
                    full_size = PROGRAM_WORKLOAD
                size = max(len(ORDER), int(full_size * args.scale)) if name != "contention" else full_size
                before = Counter(ctx.pos.statuses)
                outcome, ended = await scenario(ctx, size)
                prefix = {"sigkill": "K", "redis-down": "R", "pg-restart": "P", "pg-down": "S", "sigterm": "T",
                          "program-faults": "F", "contention": "W", "drain": "D"}[name]
                await settle(engine, ctx.pos, prefix, outcome, ended, args.settle_bound, program)
                if ctx.background is not None:
                    ctx.background.cancel()
                    ctx.background = None
                    program.chaos(0, 0)
                    await _calls(engine, ctx, prefix, outcome)
                    ctx.after()
                elif name == "drain":
                    await _calls(engine, ctx, prefix, outcome)
                    await _drain_wall(engine, ctx, prefix, outcome)
                    _drain_note(ctx, outcome)
                seen = ctx.pos.statuses - before
                outcome.answered_500 = sum(n for status, n in seen.items() if status == 500)
                outcome.answered_503 = seen.get(503, 0)
                outcomes.append(outcome)
                print(_row(outcome), flush=True)
                for note in outcome.notes:
                    print(f"  {name}: {note}", flush=True)
    finally:
        if ctx is not None and ctx.background is not None:
            ctx.background.cancel()  # before the workers stop, or it would start them again
        if engine is not None:
            await engine.dispose()
        services.stop_all()
        if program is not None:
            program.stop()
        if args.keep:
            print(f"logs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return outcomes


PROGRAM_WORKLOAD = 1705  # the Xero-shaped mixed workload


async def _calls(engine, ctx: Ctx, prefix: str, outcome: Outcome) -> None:
    """Calls made to the fake program during the scenario against the minimal number for its records."""
    async with engine.connect() as conn:
        rows = (await conn.execute(
            select(Link.entity_type, Link.state, func.count()).join(Record, Record.id == Link.record_id)
            .where(Record.pos_id.like(f"{prefix}%")).group_by(Link.entity_type, Link.state))).all()
    synced = {t: n for t, state, n in rows if state == "synced"}
    outcome.calls_made = ctx.program.calls_made(ctx.calls_before)
    outcome.calls_minimal = ctx.program.minimal_calls({t: n for t, _, n in rows}, synced)
    outcome.calls_windowed = ctx.program.windowed_calls(synced)
    ratio = outcome.calls_made / max(1, outcome.calls_minimal)
    outcome.notes.append(f"calls made {outcome.calls_made}, minimal {outcome.calls_minimal}, ratio {ratio:.2f} "
                         f"(bound {call_ratio_bound[0]}); faults met: {dict(ctx.program.faults_by_kind(ctx.calls_before))}")
    outcome.notes.append(f"calls by kind: {ctx.program.calls_by_kind(ctx.calls_before)}")


def _row(o: Outcome) -> str:
    green = f"{o.green_after_s:.1f} s" if o.green_after_s is not None else "NOT GREEN"
    return (f"| {o.scenario} | {o.records} | {o.fault} | {o.lost} | {o.duplicated} | {o.wrong_content} | "
            f"{o.runs_open} | {o.answered_500} | {o.answered_503} | {green} |")


HEADER = ("| scenario | records | fault | lost | duplicated | wrong content | runs left open | 500s | 503s "
          "| all green after the fault |\n|---|---|---|---|---|---|---|---|---|---|")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="possync fault-suite",
                                     description="possync's fault suite (see bench/faults.py's docstring).")
    parser.add_argument("--scenarios", default=",".join(s for s in SCENARIOS if s != "drain"),
                        help=f"comma-separated, from: {', '.join(SCENARIOS)} (drain: with a fake program only; "
                             "not in the default)")
    parser.add_argument("--program", choices=["sandbox", *PROGRAMS], default="sandbox",
                        help="the program the records go to: the sandbox, or a fake served over HTTP")
    parser.add_argument("--kill-every", type=float, default=PROGRAM_KILL_EVERY_S,
                        help="program-faults against a fake program: SIGKILL a worker this often, seconds (0: never)")
    parser.add_argument("--scale", type=float, default=1.0, help="record counts × this (CI: 0.2)")
    parser.add_argument("--max-call-ratio", type=float, default=MAX_CALL_RATIO,
                        help=f"calls made ≤ this × the minimal, against a fake program ({MAX_CALL_RATIO})")
    parser.add_argument("--settle-bound", type=float, default=120.0,
                        help="give up waiting for green this long after a fault (exit 1)")
    parser.add_argument("--pg-bin", default=pg_bin_default(), help="folder with initdb and pg_ctl")
    parser.add_argument("--output", type=Path, help="also write the outcomes as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder with every log")
    args = parser.parse_args(argv)
    call_ratio_bound[0] = args.max_call_ratio
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown or not args.pg_bin:
        parser.error(f"unknown scenario(s) {unknown}" if unknown else "no PostgreSQL binaries found: --pg-bin")
    print(HEADER, flush=True)
    outcomes = asyncio.run(run(args))
    if args.output:
        args.output.write_text(json.dumps([asdict(o) | {"ok": o.ok} for o in outcomes], indent=2))
    failed = [o.scenario for o in outcomes if not o.ok]
    if failed or len(outcomes) != len(args.scenarios):
        print(f"FAILED: {', '.join(failed) or 'the suite did not finish'}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
