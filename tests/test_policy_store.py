"""Loaders live in the intake-side policy store, not in the modules workflows import.

Workflows import `domain.*` passed through the sandbox: whatever those modules do runs with
the sandbox's checks off. So they hold models and pure functions only; reading policy files,
the clock, the `holidays` library or tzdata for a new case is `intake.policy_store`'s work.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import domain.policy
import domain.reporting
from tests.support import ROOT

# Calls that read a file, the clock or package data. (`workflow.now()` is the workflow's clock
# and is fine; so is a method merely named `open`, like TaskBoard.open.)
FORBIDDEN = {
    "datetime.now",
    "datetime.utcnow",
    "datetime.today",
    "date.today",
    "open",
    "io.open",
    "os.open",
    "resources.files",
    "*.read_text",
    "*.read_bytes",
}
FORBIDDEN_IMPORTS = {"holidays", "intake"}

# (file, enclosing function, call) still allowed, each with its reason. The test fails when one
# is no longer needed, so the list cannot go stale.
EXCEPTIONS = {
    ("domain/clinic.py", "ClinicDirectory.load", "*.read_text"): (
        "reads the clinics file it is given; called by intake and the CLI at startup, never in "
        "workflow code (the clinic a case runs under travels in its input)"
    ),
}


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return "?"


def _matches(called: str) -> str | None:
    for pattern in FORBIDDEN:
        if pattern.startswith("*."):
            if called.endswith(pattern[1:]):
                return pattern
        elif called == pattern or ("." in pattern and called.endswith("." + pattern)):
            return pattern
    return None


def _calls(rel: str, source: str) -> list[tuple[str, str, str, int]]:
    """(file, enclosing Class.function, forbidden pattern, line) of each forbidden call or
    import."""
    tree = ast.parse(source, rel)
    found: list[tuple[str, str, str, int]] = []

    def visit(node: ast.AST, scope: list[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, [*scope, child.name])
                continue
            if isinstance(child, ast.Call):
                pattern = _matches(_name(child.func))
                if pattern:
                    found.append((rel, ".".join(scope), pattern, child.lineno))
            if isinstance(child, ast.Import | ast.ImportFrom):
                names = (
                    [a.name for a in child.names]
                    if isinstance(child, ast.Import)
                    else [child.module or ""]
                )
                for name in names:
                    if name.split(".")[0] in FORBIDDEN_IMPORTS:
                        found.append((rel, ".".join(scope), f"import {name}", child.lineno))
            visit(child, scope)

    visit(tree, [])
    return found


def test_domain_and_workflows_read_no_file_clock_or_package_data():
    paths = [p for d in ("domain", "workflows") for p in sorted((ROOT / d).rglob("*.py"))]
    found = [c for p in paths for c in _calls(p.relative_to(ROOT).as_posix(), p.read_text())]
    unexpected = [c for c in found if c[:3] not in EXCEPTIONS]
    assert unexpected == [], "move these loaders to intake.policy_store (or list a reason)"
    stale = set(EXCEPTIONS) - {c[:3] for c in found}
    assert not stale, f"exceptions no longer needed: {sorted(stale)}"


def test_the_check_sees_what_it_forbids():
    source = (
        "import holidays\n"
        "def f(path):\n"
        "    datetime.now(UTC); date.today(); open(path); resources.files('domain')\n"
        "    path.read_text(); workflow.now(); self.board.open(task)\n"
    )
    assert sorted(c[2] for c in _calls("probe.py", source)) == sorted(
        ["import holidays", "datetime.now", "date.today", "open", "resources.files", "*.read_text"]
    )


def test_workflow_modules_do_not_load_holidays_or_the_policy_store():
    program = (
        "import importlib, json, pkgutil, sys\n"
        "import workflows\n"
        "for m in pkgutil.iter_modules(workflows.__path__):\n"
        "    importlib.import_module('workflows.' + m.name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(out.stdout))
    assert "workflows.abuse_report" in loaded and "domain.reporting" in loaded
    assert "holidays" not in loaded
    assert not {m for m in loaded if m == "intake" or m.startswith("intake.")}


def test_domain_keeps_no_loaders():
    for module, names in (
        (domain.policy, ("resolve_policy", "jurisdictions", "duty_to_warn_rule")),
        (domain.reporting, ("reporting_rule", "covered", "holidays_for", "_table")),
    ):
        assert not [n for n in names if hasattr(module, n)], module.__name__
