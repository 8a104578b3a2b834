"""Repository-level promises: the README's folder tree is true, and the layers stay apart."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_path_in_the_readme_tree_exists():
    readme = (ROOT / "README.md").read_text()
    tree = readme.split("<!-- tree -->")[1].split("<!-- /tree -->")[0]
    paths = re.findall(r"^\s*([\w./-]+?)/?\s{2,}#", tree, flags=re.M)
    assert len(paths) >= 10
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, f"README tree names paths that do not exist: {missing}"


def test_features_and_serving_never_import_training():
    out = subprocess.run([Path(sys.executable).parent / "lint-imports"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 kept, 0 broken" in out.stdout
