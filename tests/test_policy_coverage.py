"""`confide policy coverage`: the jurisdiction x path table, generated from the policy data."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cli import coverage
from cli.main import app
from intake.policy_store import jurisdictions, legal_rule, reporting_rule

ROOT = Path(__file__).resolve().parent.parent


def test_the_checked_in_page_is_the_generated_one():
    # Regenerate with `confide policy coverage --write` after changing policy data.
    assert (ROOT / coverage.DOC).read_text() == coverage.markdown(coverage.rows())


def test_every_cell_says_what_the_rule_says():
    table = {r.jurisdiction: r for r in coverage.rows()}
    assert sorted(table) == jurisdictions()
    for code, row in table.items():
        for kind in ("child_abuse", "elder_abuse"):
            rule = reporting_rule(code, kind)
            cell = row.cells[kind]
            if rule.default:
                assert cell.status == coverage.Status.default
            else:
                assert cell.unverified == rule.unverified
                assert (cell.status == coverage.Status.sourced) == (not rule.unverified)
        legal = legal_rule(code)
        assert (row.cells["legal_requests"].status == coverage.Status.default) == legal.default


def test_the_command_prints_a_table_that_fits_80_columns():
    result = CliRunner().invoke(app, ["policy", "coverage"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    assert any(line.startswith("US-CA ") for line in lines)
    assert "Elder abuse:" in result.output
