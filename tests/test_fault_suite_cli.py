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


def test_the_drain_floor_is_what_the_programs_minute_windows_allow():
    from bench.programs import QuickBooksProgram, XeroProgram

    # A window's worth of calls goes at once; each further window's worth waits a minute.
    assert XeroProgram.floor_s(58) == 0
    assert XeroProgram.floor_s(180) == 120 and XeroProgram.floor_s(181) == 180
    assert QuickBooksProgram.floor_s(100) == 120 and QuickBooksProgram.floor_s(80) == 60


def test_the_drain_is_listed_but_not_run_by_default():
    result = CliRunner().invoke(cli, ["fault-suite", "--help"])
    help_text = "".join(result.output.split())
    assert "drain" in help_text and "notinthedefault" in help_text
