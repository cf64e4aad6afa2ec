"""Starting possync for a benchmark: as real processes on 127.0.0.1, or in-process over ASGI.

- `http` (default): `possync serve` as a subprocess (uvicorn, one process) on a free port of
  127.0.0.1, and with REDIS_URL `--workers N` `possync worker` subprocesses. The client talks real
  HTTP, so the numbers include uvicorn, the TCP stack and JSON over the wire - what a POS sees.
- `asgi`: the FastAPI app built by `create_app` runs in the bench's own event loop behind
  `httpx.ASGITransport` (no sockets). Lower overhead, one process; useful for profiling.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
# `python -c` rather than the `possync` script: works whether or not the package is installed.
POSSYNC = [sys.executable, "-c", "from app.cli import main; main()"]
STARTUP_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Processes:
    """Subprocesses this bench started; stopped by their own pids, nothing else."""

    log_dir: Path
    procs: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(POSSYNC + args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode}; see {self.log_dir / (name + '.log')}")

    def stop(self, timeout_s: float = 15.0) -> None:
        for _name, proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for _name, proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()


def child_env(env: dict[str, str]) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    out.update(env)
    out["PYTHONPATH"] = str(REPO) + os.pathsep + out.get("PYTHONPATH", "")
    return out


async def wait_healthy(client: httpx.AsyncClient, procs: Processes) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        procs.check_alive()
        with contextlib.suppress(httpx.TransportError):
            if (await client.get("/healthz", timeout=2)).status_code == 200:
                return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"possync did not answer /healthz within {STARTUP_TIMEOUT_S:.0f}s")


@contextlib.asynccontextmanager
async def running_possync(
    *, transport: str, env: dict[str, str], workers: int, log_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """Yield an httpx client pointed at a running possync (API, plus workers when REDIS_URL is set)."""
    timeout = httpx.Timeout(60.0)
    procs = Processes(log_dir)
    try:
        if env.get("REDIS_URL"):
            for n in range(workers):
                procs.start(f"worker-{n + 1}", ["worker"], child_env(env))
        if transport == "http":
            port = free_port()
            procs.start("api", ["serve", "--host", "127.0.0.1", "--port", str(port)], child_env(env))
            # Idle connections are dropped before uvicorn's 5 s keep-alive ends: a request sent on one
            # the server is closing at that moment fails (ReadError), a race of the client's making.
            limits = httpx.Limits(max_connections=32, max_keepalive_connections=32, keepalive_expiry=3.0)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=timeout, limits=limits) as client:
                await wait_healthy(client, procs)
                client.procs = procs  # type: ignore[attr-defined]
                yield client
        else:
            os.environ.update(env)
            from app.main import create_app
            from app.settings import Settings

            app = create_app(Settings())
            async with app.router.lifespan_context(app):
                transport_ = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport_, base_url="http://possync.bench",
                                             timeout=timeout) as client:
                    client.procs = procs  # type: ignore[attr-defined]
                    yield client
    finally:
        procs.stop()
