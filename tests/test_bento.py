"""`bentoml build` packs the service from the runtime lock only, without the network."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV_TOOLS = ("pytest", "playwright", "ruff", "schemathesis", "hypothesis", "import-linter", "ipykernel")


def test_the_bento_builds_offline_with_runtime_packages_and_libgomp_only(tmp_path):
    # Any attempt to reach a package index or the internet fails at once.
    env = {**os.environ, "BENTOML_HOME": str(tmp_path), "BENTOML_DO_NOT_TRACK": "true", "PIP_NO_INDEX": "1",
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    bentoml = Path(sys.executable).parent / "bentoml"
    out = subprocess.run([bentoml, "build"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    (bento,) = (tmp_path / "bentos" / "shelfwise").glob("*/bento.yaml")
    bento = bento.parent
    requirements = (bento / "env" / "python" / "requirements.txt").read_text().lower()
    assert "bentoml==" in requirements and "lightgbm==" in requirements
    assert not [tool for tool in DEV_TOOLS if f"\n{tool}==" in "\n" + requirements]
    shipped = {p.relative_to(bento / "src").parts[0] for p in (bento / "src").rglob("*.py")}
    assert shipped == {"features", "serving"}  # no tests, benchmarks or training
    assert "libgomp1" in (bento / "env" / "docker" / "Dockerfile").read_text()
