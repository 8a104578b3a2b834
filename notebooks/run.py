"""Run the notebooks top to bottom, as `make test` and `make notebooks` do.

    python notebooks/run.py [NOTEBOOK ...] [--out DIR]
    python notebooks/run.py --strip [NOTEBOOK ...]

Each notebook runs in a fresh kernel with this folder as its working directory. With
``--out`` the executed copies (outputs and plots included) are written there; the copies in
git stay without outputs (``--strip`` removes them after working in Jupyter). Exits 1
naming the notebook and the cell that failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from features import numerics

HERE = Path(__file__).resolve().parent
# The kernels inherit the variables: a notebook imports numpy (`%matplotlib`) before
# shelfwise, and would otherwise compute with other kernels than the command line.
numerics.configure()


def run(path: Path, out: Path | None = None, timeout: int = 600) -> float:
    """Execute one notebook; return its wall time in seconds. Raises CellExecutionError."""
    book = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    try:
        NotebookClient(book, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(HERE)}}).execute()
    finally:
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            nbformat.write(book, out / path.name)
    return time.perf_counter() - t0


def strip(path: Path) -> bool:
    """Remove outputs and execution counts in place; return whether anything changed."""
    book = nbformat.read(path, as_version=4)
    changed = False
    for cell in book.cells:
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            cell.outputs, cell.execution_count, changed = [], None, True
    if changed:
        nbformat.write(book, path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="file names here, or paths (default: every one here)")
    parser.add_argument("--out", type=Path, help="write the executed copies to this folder")
    parser.add_argument("--strip", action="store_true", help="only remove outputs, in place")
    args = parser.parse_args(argv)
    paths = ([p if (p := Path(n)).is_file() else HERE / n for n in args.notebooks]
             or sorted(HERE.glob("[0-9]*.ipynb")))
    for path in paths:
        if args.strip:
            print(f"{path.name}: {'outputs removed' if strip(path) else 'already without outputs'}")
            continue
        try:
            seconds = run(path, args.out)
        except CellExecutionError as exc:
            print(f"{path.name}: a cell failed\n{exc}", file=sys.stderr)
            return 1
        print(f"{path.name}: ran in {seconds:.0f}s" + (f" -> {args.out / path.name}" if args.out else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
