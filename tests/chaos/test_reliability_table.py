"""tools/reliability_table.py: the README's reliability table is rendered from the result files,
between its markers, and nothing else in the file changes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness import ROOT
from tools.reliability_table import END, START, main


def _result(path, name: str, result: str) -> None:
    body = {"fault": f"{name} | fault", "times": "3 kills", "checked": ["a", "b"], "result": result}
    (path / f"{name}.json").write_text(json.dumps(body))


def test_the_table_goes_between_the_markers_and_nothing_else_changes(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    _result(results, "b_second", "0 duplicates")
    _result(results, "a_first", "50 cases\\nfine")
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{START}\nold table\n{END}\n\nAfter.\n")
    assert main(["--results", str(results), "--write", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith(f"# Title\n\n{START}\n| Fault |") and text.endswith(f"{END}\n\nAfter.\n")
    assert "old table" not in text
    rows = [line for line in text.splitlines() if line.startswith("| a_first")]
    assert rows and "a_first \\| fault" in rows[0] and "a; b" in rows[0]
    assert text.index("a_first") < text.index("b_second")
    # Again: the same file (idempotent).
    main(["--results", str(results), "--write", str(readme)])
    assert readme.read_text() == text


def test_missing_markers_and_foreign_files_are_refused(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    with pytest.raises(SystemExit, match="markers not found"):
        main(["--results", str(results), "--write", str(readme)])
    (results / "x.json").write_text(json.dumps({"fault": "f"}))
    with pytest.raises(SystemExit, match="not a result file"):
        main(["--results", str(results)])


def test_help_names_the_markers():
    out = subprocess.run(
        [sys.executable, "tools/reliability_table.py", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--write" in out and "reliability:start" in out
