"""The `shelfwise` command's answers to the mistakes a new user makes first."""

import json
import re

import pandas as pd
import pytest

from training.cli import main


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SHELFWISE_HOME", str(tmp_path / "ws"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path / "ws"


def test_training_before_any_ingest_says_to_ingest_first(capsys):
    assert main(["train", "recs", "--as-of", "2011-09-01"]) == 2
    assert "run `shelfwise ingest` first" in capsys.readouterr().err


def test_ingesting_a_file_without_a_column_names_file_and_column(raw_lines, tmp_path, capsys):
    path = tmp_path / "shop.csv"
    raw_lines.drop(columns=["Customer ID"]).to_csv(path, index=False)
    assert main(["ingest", "--source", "online-retail-ii", str(path)]) == 2
    err = capsys.readouterr().err
    assert "shop.csv" in err and "['Customer ID']" in err


def test_ingest_prints_counts_and_keeps_rejects_with_reasons(raw_lines, tmp_path, home, capsys):
    import pandas as pd

    path = tmp_path / "shop.csv"
    raw_lines.to_csv(path, index=False)
    assert main(["ingest", "--source", "online-retail-ii", str(path)]) == 0
    out = capsys.readouterr().out
    assert "rows read: 11" in out and "accepted: 4" in out and "guest_checkout: 1" in out
    rejects = pd.read_parquet(home / "rejects" / "orders.parquet")
    assert len(rejects) == 7 and rejects["reason"].notna().all()
    # Re-importing the same file gives the same tables, not duplicated rows.
    assert main(["ingest", "--source", "online-retail-ii", str(path)]) == 0
    assert len(pd.read_parquet(home / "tables" / "orders.parquet")) == 4


def test_a_malformed_date_is_refused_with_the_expected_format(capsys):
    with pytest.raises(SystemExit):
        main(["features", "build", "--as-of", "01/09/2011"])
    assert "'01/09/2011' is not a date in YYYY-MM-DD form" in capsys.readouterr().err


def test_dates_outside_the_data_and_impossible_horizons_are_refused_before_any_work(raw_lines, tmp_path, home,
                                                                                     capsys):
    path = tmp_path / "shop.csv"
    raw_lines.to_csv(path, index=False)
    main(["ingest", "--source", "online-retail-ii", str(path)])
    last = pd.read_parquet(home / "tables" / "orders.parquet")["timestamp"].max().normalize()
    day_after = (last + pd.Timedelta(days=1)).date()
    capsys.readouterr()
    # Past the data every customer would count as churned: refused, saying the latest date allowed.
    assert main(["train", "churn", "--as-of", "2030-01-01"]) == 2
    assert (f"--as-of 2030-01-01 is after the data: the last order is on {last.date()}, so give {day_after} at "
            "the latest, or leave --as-of out") in capsys.readouterr().out
    assert main(["features", "build", "--as-of", "2030-01-01"]) == 2
    assert f"give {day_after} at the latest\n" in capsys.readouterr().out
    assert main(["features", "build", "--as-of", "1990-01-01"]) == 2
    assert "is before the first order" in capsys.readouterr().out
    for days, why in (("0", "is not a whole number above 0"), ("100000", "is longer than 3,650 (ten years)")):
        with pytest.raises(SystemExit):
            main(["train", "cltv", "--horizon-days", days])
        assert why in capsys.readouterr().err


def test_each_command_and_its_report_are_kept_in_the_workspace_log(raw_lines, tmp_path, home):
    path = tmp_path / "shop.csv"
    raw_lines.to_csv(path, index=False)
    main(["ingest", "--source", "online-retail-ii", str(path)])
    main(["train", "churn", "--as-of", "1990-01-01"])
    log = (home / "logs" / "shelfwise.log").read_text()
    assert f"$ shelfwise ingest --source online-retail-ii {path}" in log
    assert "rows read: 11" in log
    assert "is before the first order" in log


SHOP_MAPPING = """\
table = "orders"
[columns]
order_id = "OrderNo"
customer_id = "Customer"
item_id = "SKU"
quantity = "Qty"
unit_price = "Price"
timestamp = "OrderedAt"
[defaults]
country = "United Kingdom"
"""


@pytest.fixture
def shop_export(small_shop, tmp_path):
    """The seeded shop as another retailer's CSV export with its own column names."""
    path = tmp_path / "shop_orders.csv"
    small_shop.rename(columns={"order_id": "OrderNo", "customer_id": "Customer", "item_id": "SKU",
                               "quantity": "Qty", "unit_price": "Price", "timestamp": "OrderedAt"})[
        ["OrderNo", "Customer", "SKU", "Qty", "Price", "OrderedAt"]].to_csv(path, index=False)
    (tmp_path / "shop.toml").write_text(SHOP_MAPPING)
    return path, tmp_path / "shop.toml"


def test_a_new_shops_export_goes_from_mapping_to_training_set_without_code(shop_export, home, capsys):
    import json

    import pandas as pd

    path, mapping = shop_export
    assert main(["ingest", "--mapping", str(mapping), str(path)]) == 0
    assert main(["events", "simulate", "--seed", "3"]) == 0
    assert main(["features", "build", "--as-of", "2011-03-01", "--horizon-days", "60"]) == 0
    out = capsys.readouterr().out
    n = len(pd.read_csv(path))
    assert f"rows read: {n:,}" in out and f"accepted: {n:,}" in out
    assert "marked simulated" in out and "funnel:" in out
    assert "[features] cutoff 1/" in out and "[features] summary:" in out
    built = home / "features" / "customer_v2" / "as_of=2011-03-01"
    manifest = json.loads((built / "manifest.json").read_text())
    assert manifest["events"] == "simulated around the orders table (seed 3)"
    snapshot = built / manifest["training_set"]
    assert snapshot == built / "horizon=60d"
    train = pd.read_parquet(snapshot / "training_set.parquet")
    snapshot_manifest = json.loads((snapshot / "manifest.json").read_text())
    assert len(train) == snapshot_manifest["rows"] > 0
    assert train["cutoff"].nunique() == len(snapshot_manifest["cutoffs"])
    assert {"views_30d", "ipi_mean_days", "churned", "future_revenue"} <= set(train.columns)
    assert train["views_90d"].sum() > 0
    # Label windows of the training set end before the as-of date.
    assert (train["cutoff"].max() + pd.Timedelta(days=60)) <= pd.Timestamp("2011-03-01")
    for name in ("customers", "items", "interactions"):
        assert len(pd.read_parquet(built / f"{name}.parquet")) > 0


def test_a_build_in_parts_of_customers_writes_what_a_whole_build_writes(shop_export, home, capsys):
    import shutil

    path, mapping = shop_export
    assert main(["ingest", "--mapping", str(mapping), str(path)]) == 0
    assert main(["events", "simulate", "--seed", "3"]) == 0
    built = home / "features" / "customer_v2" / "as_of=2011-03-01"
    files = ["customers.parquet", "items.parquet", "interactions.parquet", "horizon=60d/training_set.parquet"]
    assert main(["features", "build", "--as-of", "2011-03-01", "--horizon-days", "60"]) == 0
    whole = {f: pd.read_parquet(built / f) for f in files}
    digest = json.loads((built / "horizon=60d" / "manifest.json").read_text())["inputs"]
    shutil.rmtree(home / "features")
    capsys.readouterr()

    assert main(["features", "build", "--as-of", "2011-03-01", "--horizon-days", "60", "--part-rows", "2000"]) == 0

    out = capsys.readouterr().out
    assert re.search(r"customers built in \d+ parts", out) and "[features] part 1/" in out
    assert re.search(r"split into \d+ parts of customers: [\d,]+ order lines, [\d,]+ events", out)
    for f in files:
        pd.testing.assert_frame_equal(pd.read_parquet(built / f), whole[f])
    assert json.loads((built / "horizon=60d" / "manifest.json").read_text())["inputs"] == digest
    assert not list((home / "features").glob(".parts-*"))  # the parts are removed
    # Training reads the snapshot the parts made, as it reads a whole build's.
    assert main(["train", "churn", "--as-of", "2011-03-01", "--horizon-days", "60"]) in (0, 3)
    assert "horizon=60d is current: read, not rebuilt" in capsys.readouterr().out


def test_scores_in_parts_of_customers_are_those_of_a_whole_scoring(small_shop, tmp_path, home, capfd):
    import shutil

    # Most orders are German, but a part of a few customers may be mostly French: each part must
    # score with the shop's home country, not its own.
    shop = small_shop.assign(Country=lambda d: d["customer_id"].str[1:].astype(int).mod(5).map(
        {0: "France", 1: "France", 2: "Germany", 3: "Germany", 4: "Germany"}))
    shop.rename(columns={"order_id": "OrderNo", "customer_id": "Customer", "item_id": "SKU", "quantity": "Qty",
                         "unit_price": "Price", "timestamp": "OrderedAt"})[
        ["OrderNo", "Customer", "SKU", "Qty", "Price", "OrderedAt", "Country"]].to_csv(tmp_path / "o.csv", index=False)
    (tmp_path / "o.toml").write_text(SHOP_MAPPING.replace("[defaults]\ncountry = \"United Kingdom\"",
                                                          'country = "Country"'))
    (tmp_path / "items.csv").write_text("sku,name,group\n" + "".join(
        f"i{i},Item {i},{'toys' if i % 3 else 'garden'}\n" for i in range(18)))
    (tmp_path / "items.yaml").write_text("table: items\ncolumns: {item_id: sku, title: name, category: group}\n")
    assert main(["ingest", "--mapping", str(tmp_path / "items.yaml"), str(tmp_path / "items.csv")]) == 0
    assert main(["ingest", "--mapping", str(tmp_path / "o.toml"), str(tmp_path / "o.csv")]) == 0
    assert main(["events", "simulate", "--seed", "3"]) == 0
    for family in ("churn", "cltv"):
        assert main(["train", family, "--as-of", "2011-03-01", "--horizon-days", "60"]) == 0
    assert main(["score", "customers"]) == 0
    scores = home / "scores"
    whole = {p.name: pd.read_parquet(p) for p in scores.glob("*.parquet")}
    shutil.rmtree(scores)
    capfd.readouterr()

    assert main(["score", "customers", "--part-rows", "2000"]) == 0

    out = capfd.readouterr().out
    n = int(re.search(r"into (\d+) parts of customers", out).group(1))
    assert n > 2 and f"[score] part {n}/{n}: " in out
    assert {p.name for p in scores.glob("*.parquet")} == set(whole) and len(whole) == 2
    for name, frame in whole.items():
        parts = pd.read_parquet(scores / name)
        pd.testing.assert_frame_equal(parts, frame)
        assert len(frame) == small_shop["customer_id"].nunique()
    profiles = next(f for name, f in whole.items() if name.startswith("profiles-"))
    assert {"spend:toys", "spend:garden"} <= set(profiles.columns) and profiles["rfm_segment"].nunique() > 3
    assert not list(scores.glob(".parts-*"))


def test_scoring_before_churn_and_cltv_are_trained_writes_the_profiles_segments_need(shop_export, small_shop, home,
                                                                                      tmp_path, capfd):
    path, mapping = shop_export
    assert main(["ingest", "--mapping", str(mapping), str(path)]) == 0
    capfd.readouterr()
    assert main(["score", "customers"]) == 0
    out = capfd.readouterr().out
    assert "no churn champion: its scores are left out until `shelfwise train churn`" in out
    assert "no cltv champion" in out
    profiles = pd.read_parquet(next((home / "scores").glob("profiles-*.parquet")))
    assert len(profiles) == small_shop["customer_id"].nunique() and profiles["rfm_segment"].notna().all()
    # A file for people has churn and CLTV columns: it needs both models.
    assert main(["score", "customers", "--out", str(tmp_path / "scores.csv")]) == 2
    assert "no 'champion' model for ['churn', 'cltv']" in capfd.readouterr().err


def test_an_imported_catalogue_is_not_overwritten_by_the_next_orders_import(shop_export, tmp_path, home,
                                                                             capsys):
    import pandas as pd

    path, mapping = shop_export
    (tmp_path / "catalogue.csv").write_text("sku,name,group,stock\ni0,Zero,toys,0\ni1,One,toys,5\n")
    (tmp_path / "catalogue.yaml").write_text(
        "table: items\ncolumns: {item_id: sku, title: name, category: group, stock_level: stock}\n")
    assert main(["ingest", "--mapping", str(tmp_path / "catalogue.yaml"), str(tmp_path / "catalogue.csv")]) == 0
    assert main(["ingest", "--mapping", str(mapping), str(path)]) == 0
    assert "items kept as imported from" in capsys.readouterr().out
    items = pd.read_parquet(home / "tables" / "items.parquet")
    assert items.set_index("item_id").loc["i0", "in_stock"] == False  # noqa: E712


def test_mapped_source_without_a_mapping_file_says_what_is_missing(shop_export, capsys):
    path, _ = shop_export
    assert main(["ingest", "--source", "mapped", str(path)]) == 2
    assert "--source mapped needs --mapping FILE" in capsys.readouterr().err


def test_simulation_never_silently_replaces_a_recorded_event_log(shop_export, capsys):
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "data" / "examples"
    path, mapping = shop_export
    assert main(["ingest", "--mapping", str(mapping), str(path)]) == 0
    assert main(["ingest", "--mapping", str(examples / "shop_events.toml"), str(examples / "shop_events.csv")]) == 0
    assert main(["events", "simulate"]) == 2
    assert "pass --replace-recorded" in capsys.readouterr().err
    assert main(["events", "simulate", "--replace-recorded"]) == 0


def test_cdnow_purchase_log_imports_as_orders(home, capsys):
    from pathlib import Path

    import pandas as pd

    sample = Path(__file__).resolve().parents[2] / "data" / "cdnow" / "CDNOW_sample.txt"
    assert main(["ingest", "--source", "cdnow", str(sample)]) == 0
    assert "rows read: 6,919" in capsys.readouterr().out
    orders = pd.read_parquet(home / "tables" / "orders.parquet")
    assert orders["customer_id"].nunique() == 2357


def test_an_event_log_in_the_canonical_schema_imports_without_a_mapping(shop_export, tmp_path, home, capsys):
    import pandas as pd

    path, mapping = shop_export
    assert main(["ingest", "--mapping", str(mapping), str(path)]) == 0
    assert main(["events", "simulate", "--seed", "1"]) == 0
    simulated = pd.read_parquet(home / "tables" / "events.parquet")
    # Another workspace's event table, read back as a real shop's log would be.
    simulated.to_parquet(tmp_path / "events.parquet", index=False)
    assert main(["ingest", "--table", "events", str(tmp_path / "events.parquet")]) == 0
    back = pd.read_parquet(home / "tables" / "events.parquet")
    assert len(back) == len(simulated) and back["simulated"].all()
    assert "set aside: 0" in capsys.readouterr().out


@pytest.mark.parametrize("as_of", ["2010-09-01", "2011-03-01"])
def test_features_as_of_a_date_are_the_same_without_any_data_after_it(shop_export, home, tmp_path, monkeypatch,
                                                                      as_of):
    import pandas as pd

    from features.workspace import Workspace

    # The shop's export with what changes after the date: prices double, an item is described
    # (and so categorised) otherwise, and a new item is sold.
    path, mapping = shop_export
    export = pd.read_csv(path, dtype={"Customer": str, "OrderNo": str})
    later = pd.to_datetime(export["OrderedAt"]) >= pd.Timestamp(as_of)
    export.loc[later, "Price"] *= 2
    export["Description"] = "RED TEA MUG"
    export.loc[later & (export["SKU"] == "i2"), "Description"] = "GARDEN HOSE"
    new = export[later].head(3).assign(SKU="i99", Description="NEW LANTERN")
    export = pd.concat([export, new])
    export.to_csv(path, index=False)
    mapping.write_text(SHOP_MAPPING.replace('[defaults]', 'title = "Description"\n[defaults]'))
    assert main(["ingest", "--mapping", str(mapping), str(path)]) == 0
    assert main(["events", "simulate", "--seed", "3"]) == 0
    # The same shop, as its export and event log would have been on the as-of date.
    before = tmp_path / "before.csv"
    export[~pd.to_datetime(export["OrderedAt"]).ge(pd.Timestamp(as_of))].to_csv(before, index=False)
    events = Workspace(home).read_table("events")
    truncated = tmp_path / "truncated"
    monkeypatch.setenv("SHELFWISE_HOME", str(truncated))
    assert main(["ingest", "--mapping", str(mapping), str(before)]) == 0
    Workspace(truncated).write_table("events", events[events["timestamp"] < pd.Timestamp(as_of)], "test")

    for ws in (home, truncated):
        monkeypatch.setenv("SHELFWISE_HOME", str(ws))
        assert main(["features", "build", "--as-of", as_of, "--horizon-days", "60"]) == 0

    built = home / "features" / "customer_v2" / f"as_of={as_of}"
    tables = sorted(str(p.relative_to(built)) for p in built.rglob("*.parquet"))
    assert {"customers.parquet", "items.parquet", "interactions.parquet",
            "horizon=60d/training_set.parquet"} <= set(tables)
    for name in tables:
        full = pd.read_parquet(built / name)
        cut = pd.read_parquet(truncated / "features" / "customer_v2" / f"as_of={as_of}" / name)
        pd.testing.assert_frame_equal(full, cut, obj=name)
    interactions = pd.read_parquet(built / "interactions.parquet")
    assert set(interactions["user_id"].astype(str)) <= set(export["Customer"].astype(str))
    assert (interactions["weight"] > 0).all()


def test_version_prints_the_package_version_and_the_checkout_commit(capsys):
    import re

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert re.fullmatch(r"shelfwise 0\.1\.0(\+g[0-9a-f]{12})?\n", capsys.readouterr().out)


def test_training_reads_the_feature_snapshot_and_rebuilds_it_only_when_its_inputs_changed(shop_export, home, capsys):
    import json

    path, mapping = shop_export
    assert main(["ingest", "--mapping", str(mapping), str(path)]) == 0
    assert main(["features", "build", "--as-of", "2011-03-01", "--horizon-days", "60"]) == 0
    snapshot = home / "features" / "customer_v2" / "as_of=2011-03-01" / "horizon=60d"
    built = json.loads((snapshot / "manifest.json").read_text())["built"]
    capsys.readouterr()

    assert main(["train", "churn", "--as-of", "2011-03-01", "--horizon-days", "60"]) == 0
    assert f"snapshot {snapshot} is current: read, not rebuilt" in capsys.readouterr().out
    assert json.loads((snapshot / "manifest.json").read_text())["built"] == built
    # New events: the snapshot is stale, and training rebuilds it.
    assert main(["events", "simulate", "--seed", "1"]) == 0
    capsys.readouterr()
    assert main(["train", "churn", "--as-of", "2011-03-01", "--horizon-days", "60"]) == 0
    assert "is stale (inputs changed): rebuilding it" in capsys.readouterr().out


def test_a_large_base_is_sampled_once_by_the_feature_build_and_training_reads_that_snapshot(
        shop_export, home, capsys, monkeypatch):
    from mlflow import MlflowClient

    from features import snapshots
    from features.workspace import Workspace
    from training.registry import MODEL_NAMES

    path, mapping = shop_export
    assert main(["ingest", "--mapping", str(mapping), str(path)]) == 0
    customers = pd.read_parquet(home / "tables" / "orders.parquet")["customer_id"].nunique()
    monkeypatch.setattr(snapshots, "MODEL_CUSTOMERS", customers - 3)
    assert main(["features", "build", "--as-of", "2011-03-01", "--horizon-days", "60"]) == 0
    assert f"churn and CLTV learn from {customers - 3:,} of {customers:,} customers" in capsys.readouterr().out
    snapshot = home / "features" / "customer_v2" / "as_of=2011-03-01" / "horizon=60d"
    assert pd.read_parquet(snapshot / "training_set.parquet")["customer_id"].nunique() <= customers - 3

    # Training churn alone reads every order line's customer and time, and the sampled customers' lines whole.
    reads, read_table = [], Workspace.read_table

    def spy(self, name, columns=None, categorical=None, since=None, only=None):
        reads.append((name, columns, None if only is None else len(only[1])))
        return read_table(self, name, columns, categorical, since, only)

    monkeypatch.setattr(Workspace, "read_table", spy)
    assert main(["train", "churn", "--as-of", "2011-03-01", "--horizon-days", "60"]) == 0
    assert [r for r in reads if r[0] == "orders"] == [("orders", ["customer_id", "timestamp"], None),
                                                      ("orders", None, customers - 3)]
    out = capsys.readouterr().out
    # The same rows as the feature build sampled: its snapshot's digest matches.
    assert f"snapshot {snapshot} is current: read, not rebuilt" in out
    assert f"learnt and tested on {customers - 3:,} of {customers:,} customers (sampled by id)" in out
    client = MlflowClient(Workspace(home).tracking_uri)
    version = client.get_model_version_by_alias(MODEL_NAMES["churn"], "champion")
    params = client.get_run(version.run_id).data.params
    assert (params["customers"], params["customers_sampled_from"]) == (str(customers - 3), str(customers))


def test_train_all_on_a_shop_too_young_for_any_family_explains_each_and_exits_4(raw_lines, tmp_path, capsys):
    path = tmp_path / "shop.csv"
    raw_lines.to_csv(path, index=False)
    assert main(["ingest", "--source", "online-retail-ii", str(path)]) == 0
    capsys.readouterr()
    assert main(["train", "all"]) == 4  # none trained
    out = capsys.readouterr().out
    assert "[recs] not trained: recs cannot be trained:" in out and "at least 50 are needed" in out
    assert "[churn] not trained: churn cannot be trained:" in out and "Try a later --as-of" in out
    summary = out[out.index("[train] summary:"):].splitlines()[1:4]
    assert [line.split()[:2] for line in summary] == [["recs", "skipped"], ["churn", "skipped"], ["cltv", "skipped"]]
    assert "the others' endpoints answer 503" in out


def test_attribution_before_the_service_ever_ran_says_so_and_creates_no_store(home, capsys):
    assert main(["experiments", "attribution", "--since", "2026-01-01"]) == 0
    assert "no answers shown since 2026-01-01" in capsys.readouterr().out
    assert not (home / "live.sqlite").exists()


def test_an_export_larger_than_a_part_is_ingested_a_part_at_a_time(shop_export, tmp_path, home, monkeypatch,
                                                                    capsys):
    from features.sources import imports, mapped

    path, mapping = shop_export
    assert main(["ingest", "--mapping", str(mapping), str(path)]) == 0
    whole = {t: pd.read_parquet(home / "tables" / f"{t}.parquet") for t in ("orders", "items", "customers")}
    whole_out = capsys.readouterr().out

    monkeypatch.setattr(imports, "PART_BYTES", path.stat().st_size // 5)
    parts = []
    read = mapped.read_file_parts
    monkeypatch.setattr(mapped, "read_file_parts", lambda *a, **k: (parts.append(p) or p for p in read(*a, **k)))
    assert main(["ingest", "--mapping", str(mapping), str(path)]) == 0
    assert len(parts) >= 5
    for table, expected in whole.items():
        pd.testing.assert_frame_equal(pd.read_parquet(home / "tables" / f"{table}.parquet"), expected)
    counts = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("rows read", "accepted"))]
    assert counts == [line for line in whole_out.splitlines() if line.startswith(("rows read", "accepted"))]
    assert len(pd.read_parquet(home / "tables" / "orders.parquet")) == len(pd.read_csv(path))


def test_a_column_failing_in_a_later_part_stops_the_ingest_and_leaves_the_table_as_it_was(
        shop_export, home, monkeypatch, capsys):
    from features.sources import imports

    path, mapping = shop_export
    assert main(["ingest", "--mapping", str(mapping), str(path)]) == 0
    before = pd.read_parquet(home / "tables" / "orders.parquet")
    lines = path.read_text().splitlines()
    half = len(lines) // 2
    # The second half's prices are words: a mapping mistake in that part of the file.
    bad = [",".join(line.split(",")[:4] + ["n/a"] + line.split(",")[5:]) for line in lines[half:]]
    path.write_text("\n".join(lines[:half] + bad) + "\n")
    monkeypatch.setattr(imports, "PART_BYTES", path.stat().st_size // 4)
    capsys.readouterr()

    assert main(["ingest", "--mapping", str(mapping), str(path)]) == 2
    err = capsys.readouterr().err
    assert "field 'unit_price' (column 'Price')" in err and "cannot be read as a number" in err
    # The examples are named by their row in the file, not in the part.
    examples = [int(r) for r in re.findall(r"row (\d+): 'n/a'", err)]
    assert examples and min(examples) >= half - 1
    pd.testing.assert_frame_equal(pd.read_parquet(home / "tables" / "orders.parquet"), before)
    assert not list((home / "tables").glob("*.tmp"))
