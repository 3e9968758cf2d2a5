"""The worker compiles a source file once however often the workflow sandbox imports it (a
changed file anew), and the sandbox's entry snippets once (worker.reuse_compiled_code;
bench/PROFILE.md has why)."""

from __future__ import annotations

import importlib.util
from importlib.machinery import SourceFileLoader

import worker
from worker import reuse_compiled_code


def _load(path):
    spec = importlib.util.spec_from_loader(path.stem, SourceFileLoader(path.stem, str(path)))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_module_imported_again_reuses_its_code_until_the_file_changes(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.dont_write_bytecode", True)  # as under PYTHONDONTWRITEBYTECODE
    monkeypatch.setattr(worker, "COMPILE_ONCE_UNDER", (str(tmp_path / "ours") + "/",))
    reuse_compiled_code()
    reuse_compiled_code()  # once is enough; a second call changes nothing
    (tmp_path / "ours").mkdir()
    path = tmp_path / "ours" / "wf_module.py"
    path.write_text("def answer():\n    return 1\n")
    first, again = _load(path), _load(path)
    assert first is not again and first.answer() == again.answer() == 1
    assert first.answer.__code__ is again.answer.__code__  # compiled once
    path.write_text("def answer():\n    return 2\n")
    assert _load(path).answer() == 2
    assert not list(tmp_path.glob("**/*.pyc"))
    # A module from elsewhere compiles as it always did, each time.
    theirs = tmp_path / "theirs.py"
    theirs.write_text("def answer():\n    return 3\n")
    assert _load(theirs).answer.__code__ is not _load(theirs).answer.__code__


def test_the_sandbox_still_runs_its_snippets_compiled_once():
    import temporalio.worker.workflow_sandbox._runner as sandbox_runner

    reuse_compiled_code()
    scope: dict = {"n": 1}
    for _ in range(2):
        sandbox_runner.exec("n = n + 1\n", scope, scope)
    assert scope["n"] == 3
