"""docs/ stay true: generated pages are current, Python examples run, shell examples give their exit codes,
module doctests pass."""

from __future__ import annotations

import doctest
import importlib
import re
import shlex
import subprocess
import sys

import pytest

from fpschema import docgen

from .conftest import ROOT

DOC_FILES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
PY_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
SH_BLOCK = re.compile(r"```sh\n(.*?)```", re.S)


@pytest.mark.parametrize("name", sorted(docgen.GENERATED))
def test_generated_docs_are_current(name):
    committed = (ROOT / "docs" / name).read_text(encoding="utf-8")
    assert committed == docgen.GENERATED[name](), f"docs/{name} is stale: run `make docs`"


@pytest.mark.parametrize("path", [p for p in DOC_FILES if PY_BLOCK.search(p.read_text(encoding="utf-8"))],
                         ids=lambda p: p.name)
def test_python_examples_run(path, capsys):
    namespace: dict = {}
    for block in PY_BLOCK.findall(path.read_text(encoding="utf-8")):
        exec(compile(block, str(path), "exec"), namespace)


def test_shell_examples_give_their_exit_codes():
    (ROOT / "out").mkdir(exist_ok=True)  # the examples write there (git ignores it)
    ran = 0
    for path in sorted((ROOT / "docs").glob("*.md")):  # the README's shell lines are illustrations
        for block in SH_BLOCK.findall(path.read_text(encoding="utf-8")):
            for line in block.splitlines():
                if not line.startswith("fpschema "):
                    continue
                command, _, comment = line.partition("#")
                m = re.search(r"exit (\d)", comment)
                expected = int(m.group(1)) if m else 0
                args = shlex.split(command)[1:]
                done = subprocess.run([sys.executable, "-m", "fpschema", *args], cwd=ROOT, capture_output=True)
                assert done.returncode == expected, (line, done.stderr.decode())
                assert b"Traceback" not in done.stderr
                ran += 1
    assert ran >= 5


@pytest.mark.parametrize("module", ["fpschema", "fpschema.reference.gb11643", "fpschema.reference.uscc",
                                    "fpschema.contract.mask", "fpschema.reference.divisions",
                                    "fpschema.engine.record"])
def test_module_doctests(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0
