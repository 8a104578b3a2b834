"""The workspace: one directory that holds everything a run produces.

``SHELFWISE_HOME`` (default ``./.shelfwise``) selects it. Two workspaces never share a
file: the MLflow database and artifact store live inside it too, unless
``MLFLOW_TRACKING_URI`` says otherwise.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pandas as pd
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from features import schema as s
from features.live.sqlite_store import SQLiteLiveStore
from features.live.store import LiveStore
from features.privacy import drop_forgotten

log = logging.getLogger("shelfwise")


@dataclass
class _Held:
    """A workspace lock as this process holds it: re-entrant within a thread (retrain builds
    features, which writes too), exclusive between threads (the RLock) and processes (flock)."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    depth: int = 0
    file: IO | None = None  # open while depth > 0, holding the flock


_HELD: dict[Path, _Held] = {}
_HELD_GUARD = threading.Lock()


class Settings(BaseSettings):
    """Where the workspace is and which live store it uses: read once from the environment at
    an edge (the command line, the service) and passed down. The service's own settings
    extend these (:class:`serving.api.settings.ServiceSettings`)."""

    model_config = SettingsConfigDict(env_prefix="SHELFWISE_")

    home: Path = Field(Path(".shelfwise"), description="Workspace directory.")
    live_store_url: str | None = Field(
        None, description="redis://host:port/db: share live events and item updates between machines; "
                          "unset: SQLite (live.sqlite) in the workspace, shared by one machine's workers.")
    shared_store_url: str | None = Field(
        None, description="postgresql://user:password@host/db: share customer scores, offer decisions and "
                          "erasures between replicas that each have their own workspace; unset: files in the "
                          "workspace.")


# Event columns read as categoricals when a feature builder asks for columns (read_events).
CODED = (s.USER_ID, s.SESSION_ID, s.ITEM_ID, s.EVENT_TYPE)
BATCH_ROWS = 1_000_000  # rows a table is read at a time by those that stream it


class Workspace:
    """Paths of a workspace; creates directories on demand, never at import time."""

    def __init__(self, home: Path | str, live_store_url: str | None = None,
                 shared_store_url: str | None = None):
        self.home = Path(home).resolve()
        self.live_store_url = live_store_url
        self.shared_store_url = shared_store_url

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Workspace:
        settings = settings or Settings()
        return cls(settings.home, settings.live_store_url, settings.shared_store_url)

    def _dir(self, *parts: str) -> Path:
        path = self.home.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def tables(self) -> Path:
        return self._dir("tables")

    @property
    def rejects(self) -> Path:
        return self._dir("rejects")

    @property
    def reports(self) -> Path:
        return self._dir("reports")

    @property
    def features(self) -> Path:
        return self._dir("features")

    @property
    def logs(self) -> Path:
        return self._dir("logs")

    @property
    def mlflow_dir(self) -> Path:
        return self._dir("mlflow")

    @property
    def tracking_uri(self) -> str:
        """``MLFLOW_TRACKING_URI`` if set, else a SQLite database inside the workspace."""
        return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        return self._dir("mlflow", "artifacts")

    @property
    def live_store_path(self) -> Path:
        """The service's SQLite store of live events and catalogue updates."""
        return self.home / "live.sqlite"

    def live_store(self) -> LiveStore:
        """The store of live events and item updates: Redis when ``live_store_url`` is set,
        else SQLite in the workspace."""
        if self.live_store_url:
            from features.live.redis_store import RedisLiveStore  # only deployments with Redis need it

            return RedisLiveStore(self.live_store_url)
        return SQLiteLiveStore(self.live_store_path)

    def existing_live_store(self):
        """The live store if the service ever opened one (Redis when configured), else ``None``:
        readers must not create an empty ``live.sqlite``."""
        has_live = self.live_store_url or self.live_store_path.exists()
        return self.live_store() if has_live else None

    def forgotten_ids(self) -> set[str]:
        """Customers erased by ``shelfwise forget`` (kept on the live store's list)."""
        store = self.existing_live_store()
        return store.forgotten_ids() if store is not None else set()

    def read_events(self, columns: list[str] | None = None, since: pd.Timestamp | None = None,
                    users: Collection[str] | None = None) -> pd.DataFrame | None:
        """Imported or simulated events plus the events the service received since
        (:mod:`features.live`); ``None`` when there are neither. With ``columns``, only those,
        and the ids and event types among them as categoricals (:data:`CODED`): a large shop's
        log in a fraction of the memory, for the feature builders, which treat them alike.
        With ``since``, only the events at or after it; with ``users``, only the events of
        those customers (the others are dropped a batch at a time, never held whole)."""
        store = self.existing_live_store()
        live = store.events_frame() if store is not None else None
        if live is not None and since is not None:
            live = live[pd.to_datetime(live[s.TIMESTAMP]) >= since]
        if live is not None and users is not None:
            live = live[live[s.USER_ID].isin(set(users))]
        only = None if users is None else (s.USER_ID, users)
        if columns is not None:
            dedupe = live is not None and not live.empty  # live events are told apart by their ids
            keep = list(dict.fromkeys([*columns, s.EVENT_ID] if dedupe else columns))
            imported = self.read_table_if_present("events", keep, categorical=[c for c in keep if c in CODED],
                                                  since=since, only=only)
            if live is not None:
                live = live[keep]
            events = self._with_live(imported, live)
            return events[list(columns)] if events is not None else None
        return self._with_live(self.read_table_if_present("events", since=since, only=only), live)

    @staticmethod
    def _with_live(imported: pd.DataFrame | None, live: pd.DataFrame | None) -> pd.DataFrame | None:
        if live is None or live.empty:
            return imported
        if imported is None:
            return live
        # Asked this way round: pandas' isin on Arrow strings walks its argument in Python, so
        # isin(every imported id) took 30-50 s per worker start with 3 million events.
        ids = live["event_id"]
        seen = set(imported.loc[imported["event_id"].isin(set(ids)), "event_id"])
        live = live[~ids.isin(seen)]
        for col, dtype in imported.dtypes.items():
            if isinstance(dtype, pd.CategoricalDtype):  # live values join the codes, none lost to NaN
                values = live[col].astype(str)
                new = pd.Index(values.dropna().unique()).difference(dtype.categories)  # missing stays missing
                imported[col] = imported[col].cat.add_categories(new) if len(new) else imported[col]
                live = live.assign(**{col: pd.Categorical(values, categories=imported[col].cat.categories)})
        return pd.concat([imported, live.astype(imported.dtypes.to_dict())], ignore_index=True)

    @contextmanager
    def write_lock(self, what: str) -> Iterator[None]:
        """Hold the workspace's one write lock for the block, waiting for it if needed.

        Every writer of the workspace's files takes it (ingest, event simulation, feature
        builds, training, retrain and the file rewrites of a forget), so an erasure never
        runs while a retrain that read the tables before it writes them back after it. The
        operating system releases it if the process dies.
        """
        path = self.home / "workspace.lock"
        with _HELD_GUARD:
            held = _HELD.setdefault(path, _Held())
        with held.lock:
            if held.depth == 0:
                path.parent.mkdir(parents=True, exist_ok=True)
                f = open(path, "a+")
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    f.seek(0)
                    holder = f.read().strip() or "another process"
                    log.warning("waiting for the workspace lock (%s) to %s", holder, what)
                    fcntl.flock(f, fcntl.LOCK_EX)
                f.seek(0)
                f.truncate()
                f.write(f"held by pid {os.getpid()} to {what}, since "
                        f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC\n")
                f.flush()
                held.file = f
            held.depth += 1
            try:
                yield
            finally:
                held.depth -= 1
                if held.depth == 0:
                    f, held.file = held.file, None
                    f.truncate(0)
                    fcntl.flock(f, fcntl.LOCK_UN)
                    f.close()

    def table_path(self, name: str) -> Path:
        return self.tables / f"{name}.parquet"

    def require_table(self, name: str) -> Path:
        """The table's path; FileNotFoundError saying what to run when nothing was ingested."""
        path = self.table_path(name)
        if not path.exists():
            raise FileNotFoundError(f"no '{name}' table in workspace {self.home}; run `shelfwise ingest` "
                                    "first")
        return path

    def read_table(self, name: str, columns: list[str] | None = None,
                   categorical: list[str] | None = None, since: pd.Timestamp | None = None,
                   only: tuple[str, Collection[str]] | None = None) -> pd.DataFrame:
        """Read a canonical table, with a hint when nothing was ingested yet.

        ``only=(column, values)``: the rows whose ``column`` is one of ``values``, filtered as
        the file is read. Rows of forgotten customers are left out even before their erasure
        has rewritten the file (or when it could not), so every reader honours the forgotten
        list: training, batch scores, segment exports and offer plans alike."""
        path = self.require_table(name)
        import pyarrow.parquet as pq

        # `categorical` columns come as pandas categoricals (Parquet's dictionary encoding kept):
        # an int32 code per row instead of a string. Arrow's columns are freed as they are
        # converted (self_destruct): pd.read_parquet held both copies at once.
        # `since`, `only`: other rows are dropped a batch at a time (row groups wholly before `since` unread).
        filters = [(s.TIMESTAMP, ">=", since.to_pydatetime())] if since is not None else []
        if only is not None:
            filters.append((only[0], "in", list(only[1])))
        arrow = pq.read_table(path, columns=columns, read_dictionary=categorical or None,
                              filters=filters or None)
        table = arrow.to_pandas(split_blocks=True, self_destruct=True)
        del arrow
        return drop_forgotten(table, self.forgotten_ids(), canonical=True)[0]

    def table_rows(self, name: str) -> int:
        """Rows in table ``name`` as written (0 when it was never ingested), from its footer."""
        import pyarrow.parquet as pq

        path = self.table_path(name)
        return pq.ParquetFile(path).metadata.num_rows if path.exists() else 0

    def table_batches(self, name: str, columns: list[str] | None = None, categorical: list[str] | None = None,
                      rows: int = BATCH_ROWS) -> Iterator[pd.DataFrame]:
        """Table ``name`` as :meth:`read_table` reads it, ``rows`` rows at a time."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        forgotten = self.forgotten_ids()
        file = pq.ParquetFile(self.table_path(name), read_dictionary=categorical or None)
        for batch in file.iter_batches(batch_size=rows, columns=columns):
            yield drop_forgotten(pa.Table.from_batches([batch]).to_pandas(), forgotten, canonical=True)[0]

    def event_batches(self, columns: list[str], rows: int = BATCH_ROWS) -> Iterator[pd.DataFrame] | None:
        """:meth:`read_events` with ``columns``, ``rows`` imported events at a time and the live
        events not among them last; None when there are neither."""
        store = self.existing_live_store()
        live = store.events_frame() if store is not None else None
        live = None if live is None or live.empty else live
        imported = self.table_path("events").exists()
        if not imported and live is None:
            return None

        def batches() -> Iterator[pd.DataFrame]:
            keep = list(dict.fromkeys([*columns, s.EVENT_ID] if live is not None else columns))
            wanted = set() if live is None else set(live[s.EVENT_ID])
            seen: set[str] = set()
            types = {}
            if imported:
                for frame in self.table_batches("events", keep, [c for c in keep if c in CODED], rows):
                    if wanted:
                        seen |= set(frame.loc[frame[s.EVENT_ID].isin(wanted), s.EVENT_ID])
                    types = {c: t for c, t in frame.dtypes.items() if not isinstance(t, pd.CategoricalDtype)}
                    yield frame[list(columns)]
            if live is not None:  # in the imported columns' types (times in their unit)
                live_events = live.loc[~live[s.EVENT_ID].isin(seen), list(columns)]
                yield live_events.astype({c: t for c, t in types.items() if c in columns})
        return batches()

    def read_table_if_present(self, name: str, columns: list[str] | None = None,
                              categorical: list[str] | None = None, since: pd.Timestamp | None = None,
                              only: tuple[str, Collection[str]] | None = None) -> pd.DataFrame | None:
        """A canonical table (as :meth:`read_table`), or ``None`` when it was never ingested
        (events are optional)."""
        present = (self.home / "tables" / f"{name}.parquet").exists()
        return self.read_table(name, columns, categorical, since, only) if present else None

    def write_table(self, name: str, table: pd.DataFrame, source: str) -> Path:
        """Replace table ``name`` and record where it came from (re-imports are idempotent).

        Rows of forgotten customers are left out whatever the caller read, so a job that read
        the tables before a forget cannot write the customer back after it."""
        return self.write_table_parts(name, [table], source)[0]

    def write_table_parts(self, name: str, parts: Iterable[pd.DataFrame], source: str) -> tuple[Path, int]:
        """:meth:`write_table` for a table made a part at a time (each a Parquet row group), so
        that the whole table is never in memory. Returns the path and the rows written."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        forgotten = self.forgotten_ids()
        path = self.table_path(name)
        tmp = path.with_suffix(".tmp")
        rows, writer, empty = 0, None, None
        try:
            for part in parts:
                arrow = pa.Table.from_pandas(drop_forgotten(part, forgotten, canonical=True)[0],
                                             preserve_index=False)
                if writer is None and not arrow.num_rows:
                    empty = arrow  # an empty part's text columns have no type yet: a later part sets them
                    continue
                if writer is None:
                    writer = pq.ParquetWriter(tmp, arrow.schema)
                writer.write_table(arrow.cast(writer.schema))
                rows += arrow.num_rows
            if writer is None and empty is not None:
                writer = pq.ParquetWriter(tmp, empty.schema)
                writer.write_table(empty)
        except BaseException:
            if writer is not None:
                writer.close()
            tmp.unlink(missing_ok=True)  # a part failed (a bad column part-way): the table stays as it was
            raise
        if writer is None:
            raise ValueError(f"write_table_parts: no parts to write to table '{name}'")
        writer.close()
        tmp.replace(path)  # a reader never sees half a table
        manifest = self.table_sources()
        manifest[name] = {"source": source, "rows": rows,
                          "written": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        (self.tables / "manifest.json").write_text(json.dumps(manifest, indent=2))
        return path, rows

    def table_sources(self) -> dict[str, dict]:
        """What each table was last written from (see :meth:`write_table`)."""
        path = self.tables / "manifest.json"
        return json.loads(path.read_text()) if path.exists() else {}
