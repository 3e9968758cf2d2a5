"""The worker compiles a source file once however often the workflow sandbox imports it, and a
changed file anew (worker.reuse_compiled_modules; bench/PROFILE.md has why)."""

from __future__ import annotations

import importlib.util
from importlib.machinery import SourceFileLoader

from worker import reuse_compiled_modules


def _load(path):
    spec = importlib.util.spec_from_loader(path.stem, SourceFileLoader(path.stem, str(path)))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_module_imported_again_reuses_its_code_until_the_file_changes(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.dont_write_bytecode", True)  # as under PYTHONDONTWRITEBYTECODE
    reuse_compiled_modules()
    reuse_compiled_modules()  # once is enough; a second call changes nothing
    path = tmp_path / "wf_module.py"
    path.write_text("def answer():\n    return 1\n")
    first, again = _load(path), _load(path)
    assert first is not again and first.answer() == again.answer() == 1
    assert first.answer.__code__ is again.answer.__code__  # compiled once
    path.write_text("def answer():\n    return 2\n")
    assert _load(path).answer() == 2
    assert not list(tmp_path.glob("**/*.pyc"))
