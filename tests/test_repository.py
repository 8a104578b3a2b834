"""Repository-level promises: the README's folder tree is true, and the layers stay apart."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from features.numerics import cpu_flags

ROOT = Path(__file__).resolve().parent.parent


def test_every_path_in_the_readme_tree_exists():
    readme = (ROOT / "README.md").read_text()
    tree = readme.split("<!-- tree -->")[1].split("<!-- /tree -->")[0]
    paths = re.findall(r"^\s*([\w./-]+?)/?\s{2,}#", tree, flags=re.M)
    assert len(paths) >= 10
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, f"README tree names paths that do not exist: {missing}"


def test_the_packages_import_only_down_the_pipeline():
    out = subprocess.run([Path(sys.executable).parent / "lint-imports"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "7 kept, 0 broken" in out.stdout


def test_importing_shelfwise_changes_no_process_setting():
    code = ("import os, features.workspace, training.jobs, serving.runtime.models; "
            "print([k for k in ('OPENBLAS_NUM_THREADS', 'OPENBLAS_CORETYPE', 'NPY_DISABLE_CPU_FEATURES') "
            "if k in os.environ])")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES")}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# What each entry point runs before it loads numpy: the shelfwise command, `python -m serving`
# and the module BentoML's workers load.
ENTRY = {"cli": "import training.__main__ as e\ntry:\n    e.main(['--version'])\nexcept SystemExit:\n    pass\n",
         "serving": "import serving.__main__\n", "worker": "import serving.api.service\n"}


@pytest.mark.parametrize("entry", sorted(ENTRY))
def test_entry_points_keep_blas_to_one_thread_unless_told_otherwise(entry):
    # Idle OpenBLAS threads spin on the cores LightGBM and implicit need: a notebook that
    # imported numpy first, without OPENBLAS_NUM_THREADS, ran four times slower.
    code = ENTRY[entry] + ("import numpy, scipy.linalg, threadpoolctl\n"
                           "print(sorted(i['num_threads'] for i in threadpoolctl.threadpool_info() "
                           "if i['user_api'] == 'blas'))")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    run = lambda env: subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT,  # noqa: E731
                                     capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    assert run(env) == "[1, 1]"  # numpy's and scipy's OpenBLAS
    assert run({**env, "OPENBLAS_NUM_THREADS": "2"}) == "[2, 2]"


@pytest.mark.skipif(not {"avx2", "fma"} <= cpu_flags(), reason="portable kernels are pinned on x86-64 with AVX2")
@pytest.mark.parametrize("entry", sorted(ENTRY))
def test_entry_points_compute_with_the_same_kernels_on_every_x86_machine(entry):
    # AVX-512 kernels round differently from AVX2 ones, which moved the champion recommender's
    # early stopping from 128 to 86 rounds: a rerun on another machine must give the same model.
    code = ENTRY[entry] + ("import numpy, scipy.linalg, threadpoolctl\n"
                           "from numpy._core._multiarray_umath import __cpu_features__ as cpu\n"
                           "print(sorted({i['architecture'] for i in threadpoolctl.threadpool_info() "
                           "if i['user_api'] == 'blas'}), cpu.get('X86_V4'))")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES")}
    run = lambda env: subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env, cwd=ROOT,  # noqa: E731
                                     capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    assert run(env) == "['Haswell'] False"  # OpenBLAS's AVX2 kernels, numpy's AVX-512 loops unused
    if "avx512f" in cpu_flags():  # opting out gives the machine's own (AVX-512) kernels back
        assert run({**env, "SHELFWISE_PORTABLE_NUMERICS": "0"}).endswith("True")
