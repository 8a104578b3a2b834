"""The notebooks run top to bottom on the bundled data, and are stored without outputs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = sorted(p.name for p in NOTEBOOKS.glob("[0-9]*.ipynb"))


def test_there_is_a_notebook_per_step():
    assert NAMES == ["01-explore-orders-and-events.ipynb", "02-recommenders-compared.ipynb",
                     "03-churn-and-cltv.ipynb"]


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom_and_draws_its_plots(name, tmp_path):
    done = subprocess.run([sys.executable, str(NOTEBOOKS / "run.py"), name, "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=900)

    assert done.returncode == 0, done.stderr[-3000:]
    cells = json.loads((tmp_path / name).read_text())["cells"]
    outputs = [o for c in cells if c["cell_type"] == "code" for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_stored_without_outputs(name):
    cells = json.loads((NOTEBOOKS / name).read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]

    assert code
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code), (
        f"{name} has outputs: run `python notebooks/run.py --strip` before committing")


def test_run_names_the_failing_notebook_and_cell_and_exits_1(tmp_path):
    broken = tmp_path / "99-broken.ipynb"
    broken.write_text(json.dumps({
        "cells": [{"cell_type": "code", "id": "a", "metadata": {}, "outputs": [], "execution_count": None,
                   "source": "raise ValueError('no such column: revenue_typo')"}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}))

    done = subprocess.run([sys.executable, str(NOTEBOOKS / "run.py"), str(broken)],
                          capture_output=True, text=True, timeout=300)

    assert done.returncode == 1
    assert "99-broken.ipynb: a cell failed" in done.stderr
    assert "no such column: revenue_typo" in done.stderr


def test_strip_removes_outputs_in_place(tmp_path):
    book = tmp_path / "n.ipynb"
    book.write_text(json.dumps({
        "cells": [{"cell_type": "code", "id": "a", "metadata": {}, "execution_count": 3, "source": "1",
                   "outputs": [{"output_type": "execute_result", "execution_count": 3, "metadata": {},
                                "data": {"text/plain": "1"}}]}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))

    done = subprocess.run([sys.executable, str(NOTEBOOKS / "run.py"), "--strip", str(book)],
                          capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    cell = json.loads(book.read_text())["cells"][0]
    assert cell["outputs"] == [] and cell["execution_count"] is None
