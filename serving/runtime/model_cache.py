"""Champion model files kept in the workspace, so a service can start without the registry.

Every version a worker loads is downloaded once into ``$SHELFWISE_HOME/serving/models/
<registry>/<name>/<version>/`` (``<registry>``: a digest of the tracking URI, as two
registries both have a version 1), and after a set of champions loads, ``last_good.json``
there names it. When the MLflow registry or its artifact store cannot be read at start-up
(or the champion there fails its checks), the service starts from that last good set
instead and says "degraded" in ``GET /v1/status`` until the registry answers again.

The workers of one machine share the directory: each downloads into a private folder and
renames it into place, and the loser of a race uses the winner's copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from features.artifacts import IncompatibleModelError, verify_checksums
from features.workspace import Workspace
from serving.runtime.registry import MODEL_NAMES, LoadedArtifact, download_version, redact

LAST_GOOD = "last_good.json"
KEEP_VERSIONS = 3  # per family: the served one, the one before, and one more to roll back to


class NoCachedModelsError(RuntimeError):
    """No set of models has loaded in this workspace yet, so there is nothing to fall back on."""


class ModelCache:
    """Champion model directories of one workspace and registry, and the last set that loaded."""

    def __init__(self, workspace: Workspace,
                 download: Callable[[str, str, Path], LoadedArtifact] | None = None):
        self.tracking_uri = workspace.tracking_uri
        # (family, version, folder) -> the downloaded files; a worker passes WorkerRegistry.download.
        self._download = download or (lambda f, v, dest: download_version(self.tracking_uri, f, v, dest))
        registry = hashlib.sha256(self.tracking_uri.encode()).hexdigest()[:12]
        self.root = workspace.home / "serving" / "models" / registry

    def fetch(self, versions: dict[str, str]) -> dict[str, LoadedArtifact]:
        """The model directories of ``versions`` (family -> version), downloading those not
        cached yet and those whose files no longer match their checksums."""
        return {family: self.fetch_one(family, str(version)) for family, version in versions.items()}

    def fetch_one(self, family: str, version: str) -> LoadedArtifact:
        """One version's model directory, as :meth:`fetch`."""
        name = MODEL_NAMES[family]
        final = self.root / name / version
        damaged = False
        if final.exists():
            try:
                verify_checksums(final)
                return LoadedArtifact(family, name, version, final)
            except IncompatibleModelError:
                damaged = True  # download it again, then swap it in
        final.parent.mkdir(parents=True, exist_ok=True)
        incoming = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=final.parent))
        try:
            downloaded = self._download(family, version, incoming)
            if damaged:
                # Another worker may be reading the old copy: move it aside in one rename
                # rather than deleting it file by file while the new one downloads.
                try:
                    os.rename(final, incoming / "damaged")
                except OSError:  # another worker moved it first
                    pass
            try:
                os.rename(downloaded.path, final)
            except OSError:  # another worker put the same version in place first
                if not final.exists():
                    raise
        finally:
            shutil.rmtree(incoming, ignore_errors=True)
        return LoadedArtifact(family, name, version, final)

    def remember(self, artifacts: dict[str, LoadedArtifact]) -> None:
        """Record ``artifacts`` as the last set that loaded, and drop old versions."""
        record = {"tracking_uri": redact(self.tracking_uri),
                  "saved": datetime.now(UTC).isoformat(timespec="seconds"),
                  "versions": {f: a.version for f, a in artifacts.items()}}
        path = self.root / LAST_GOOD
        tmp = path.with_name(f".{LAST_GOOD}.{os.getpid()}")
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, path)  # atomic: a reader sees the old record or the new one
        for family, artifact in artifacts.items():
            self._prune(MODEL_NAMES[family], keep=artifact.version)

    def _prune(self, name: str, keep: str) -> None:
        versions = sorted((p for p in (self.root / name).iterdir() if p.is_dir() and p.name.isdigit()),
                          key=lambda p: int(p.name), reverse=True)
        for old in versions[KEEP_VERSIONS:]:
            if old.name != keep:
                shutil.rmtree(old, ignore_errors=True)

    def last_good(self) -> dict[str, LoadedArtifact]:
        """The last set of champions that loaded here, from the cache only (no registry).

        Raises
        ------
        NoCachedModelsError
            If no set from this registry has loaded here yet, or its files are gone.
        """
        path = self.root / LAST_GOOD
        if not path.exists():
            raise NoCachedModelsError(f"no cached models from {redact(self.tracking_uri)} in {self.root}: "
                                      "none has loaded here yet")
        record = json.loads(path.read_text())
        found = {}
        for family, version in record["versions"].items():
            name = MODEL_NAMES[family]
            if not (self.root / name / version).is_dir():
                raise NoCachedModelsError(f"the cached {name} version {version} is gone from {self.root}")
            found[family] = LoadedArtifact(family, name, version, self.root / name / version)
        return found
