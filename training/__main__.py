"""The ``shelfwise`` command's entry point (``python -m training`` too).

Process-wide settings are made here, before anything loads numpy, and not when a package is
imported: a notebook or another program that imports shelfwise keeps its own.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from features import numerics

    numerics.configure()  # one BLAS thread, the same kernels on every machine
    from training.cli import main as cli_main  # loads numpy: after configure

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
