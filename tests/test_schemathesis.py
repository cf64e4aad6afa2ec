"""Schemathesis against a running service with a store key, every check on, a fixed seed and a
bounded number of examples: 0 failures. A longer run is `./scripts/schemathesis --max-examples 500`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_schemathesis_finds_nothing():
    run = subprocess.run([str(ROOT / "scripts" / "schemathesis"), "--max-examples", "15"], cwd=ROOT,
                         capture_output=True, text=True, timeout=1500)
    summary = run.stdout[-4000:]
    assert run.returncode == 0, summary + run.stderr[-3000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert counts and int(counts.group(1)) > 1000 and counts.group(1) == counts.group(2), summary
