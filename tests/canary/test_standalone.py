"""The canary scripts stay standalone: standard library only, no project imports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.canary.conftest import NUCLEAR_SCRIPT, WATCH_SCRIPT


@pytest.mark.parametrize("script", [NUCLEAR_SCRIPT, WATCH_SCRIPT], ids=lambda p: p.name)
def test_only_standard_library_imports(script: Path) -> None:
    tree = ast.parse(script.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import: the file must run on its own"
            roots.add((node.module or "").split(".")[0])

    assert roots - {"__future__"} <= sys.stdlib_module_names
