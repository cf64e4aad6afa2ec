"""`possync fault-suite` is the fault suite's one command: its options reach bench/faults.py."""

from __future__ import annotations

from typer.testing import CliRunner

from app.cli import cli


def test_fault_suite_command_lists_the_scenarios():
    result = CliRunner().invoke(cli, ["fault-suite", "--help"])
    assert result.exit_code == 0
    assert "usage: possync fault-suite" in result.output
    help_text = "".join(result.output.split())  # argparse wraps long lines, at hyphens too
    assert "--scenarios" in help_text and "--scale" in help_text
    assert "sigkill" in help_text and "pg-restart" in help_text


def test_fault_suite_command_passes_its_options_on():
    result = CliRunner().invoke(cli, ["fault-suite", "--scenarios", "no-such-scenario"])
    assert result.exit_code == 2
    assert "unknown scenario(s) ['no-such-scenario']" in result.output
