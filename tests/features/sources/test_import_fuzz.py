"""Importers fed corrupted files (hypothesis): each file ends in a clear error naming it, or in
a table plus rejects with every row read accounted for."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.sources import imports, mapped, online_retail

EXAMPLES = Path(__file__).resolve().parents[3] / "data" / "examples"
ONLINE_RETAIL_CSV = """Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country
489434,85048,15CM CHRISTMAS GLASS BALL 20 LIGHTS,12,2009-12-01 07:45:00,6.95,13085.0,United Kingdom
489434,79323P,PINK CHERRY LIGHTS,12,2009-12-01 07:45:00,6.75,13085.0,United Kingdom
489435,22350,CAT BOWL ,12,2009-12-01 07:46:00,2.55,13085.0,United Kingdom
C489449,22087,PAPER BUNTING WHITE LACE,-12,2009-12-01 10:33:00,2.95,16321.0,Australia
489436,POST,POSTAGE,1,2009-12-01 09:06:00,18.0,13078.0,United Kingdom
489437,22143,CHRISTMAS CRAFT HEART DECORATIONS,6,2009-12-01 09:08:00,2.1,,United Kingdom
489438,21329,DINOSAURS WRITING SET,28,2009-12-01 09:24:00,0.0,18102.0,United Kingdom
489439,22065,CHRISTMAS PUDDING TRINKET POT,24,2009-12-01 09:28:00,1.45,12682.0,France
"""
FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _shuffle_columns(data: bytes, seed: int) -> bytes:
    lines = data.decode().splitlines()
    rows = [line.split(",") for line in lines]
    order = list(range(len(rows[0])))
    random.Random(seed).shuffle(order)
    return ("\n".join(",".join(r[i] if i < len(r) else "" for i in order) for r in rows) + "\n").encode()


def _corrupt(data: bytes, kind: str, where: float, seed: int) -> bytes:
    at = int(where * len(data))
    if kind == "truncated":
        return data[:at]
    if kind == "latin-1 and utf-16":
        return data.decode().replace("LIGHTS", "LUMI\u00c8RES").encode(["latin-1", "utf-16"][seed % 2])
    if kind == "shuffled columns":
        return _shuffle_columns(data, seed)
    if kind == "huge field":
        return data[:at] + b"x" * 300_000 + data[at:]
    if kind == "wrong delimiter":
        return data.replace(b",", [b";", b"\t", b"|"][seed % 3])
    if kind == "flipped bytes":
        out = bytearray(data)
        rng = random.Random(seed)
        for _ in range(5):
            out[rng.randrange(len(out))] = rng.randrange(256)
        return bytes(out)
    if kind == "extra and missing cells":
        lines = data.split(b"\n")
        i = 1 + seed % (len(lines) - 2)
        lines[i] = lines[i] + b",extra,cells" if seed % 2 else lines[i].rsplit(b",", 2)[0]
        return b"\n".join(lines)
    raise AssertionError(kind)


KINDS = st.sampled_from(["truncated", "latin-1 and utf-16", "shuffled columns", "huge field",
                         "wrong delimiter", "flipped bytes", "extra and missing cells"])


def _assert_accounted_or_clear_error(load, path: Path) -> None:
    try:
        table, rejects, report = load(path)
    except ValueError as exc:  # a clear error names the file
        assert path.name in str(exc), str(exc)
        return
    assert report.accepted + sum(report.rejected.values()) == report.rows_read
    assert len(table) == report.accepted and len(rejects) == sum(report.rejected.values())
    assert set(rejects["reason"]) <= set(report.rejected)


@FUZZ
@given(kind=KINDS, where=st.floats(0, 1), seed=st.integers(0, 10_000))
def test_online_retail_import_of_a_corrupted_file(tmp_path_factory, kind, where, seed):
    path = tmp_path_factory.mktemp("fuzz") / "online_retail.csv"
    path.write_bytes(_corrupt(ONLINE_RETAIL_CSV.encode(), kind, where, seed))
    _assert_accounted_or_clear_error(
        lambda p: online_retail.load_orders(online_retail.read_raw(p), str(p)), path)


@FUZZ
@given(kind=KINDS, where=st.floats(0, 1), seed=st.integers(0, 10_000))
def test_mapped_event_import_of_a_corrupted_file(tmp_path_factory, kind, where, seed):
    mapping = mapped.Mapping.read(EXAMPLES / "shop_events.toml")
    path = tmp_path_factory.mktemp("fuzz") / "shop_events.csv"
    path.write_bytes(_corrupt((EXAMPLES / "shop_events.csv").read_bytes(), kind, where, seed))
    _assert_accounted_or_clear_error(lambda p: mapped.load(p, mapping), path)


@FUZZ
@given(kind=st.sampled_from(["truncated", "flipped bytes"]), where=st.floats(0, 1), seed=st.integers(0, 10_000))
def test_mapped_import_of_a_corrupted_parquet_file(tmp_path_factory, kind, where, seed):
    tmp = tmp_path_factory.mktemp("fuzz")
    pd.read_csv(EXAMPLES / "shop_events.csv").to_parquet(tmp / "good.parquet")
    path = tmp / "shop_events.parquet"
    path.write_bytes(_corrupt((tmp / "good.parquet").read_bytes(), kind, where, seed))
    mapping = mapped.Mapping.read(EXAMPLES / "shop_events.toml")
    _assert_accounted_or_clear_error(lambda p: mapped.load(p, mapping), path)


@FUZZ
@given(kind=KINDS.filter(lambda k: k != "huge field"), where=st.floats(0, 1), seed=st.integers(0, 10_000),
       parts=st.integers(2, 6))
def test_a_corrupted_file_read_a_part_at_a_time_reads_as_it_does_whole(tmp_path_factory, kind, where, seed, parts):
    path = tmp_path_factory.mktemp("fuzz") / "shop_events.csv"
    data = (EXAMPLES / "shop_events.csv").read_bytes() * 3
    path.write_bytes(_corrupt(data, kind, where, seed))
    encoding = "latin-1" if kind == "latin-1 and utf-16" and seed % 2 == 0 else "utf-8"
    try:
        whole = imports.read_file(path, encoding=encoding)
    except ValueError as exc:
        with pytest.raises(ValueError, match=re.escape(str(exc)[:40])):
            list(imports.read_file_parts(path, encoding=encoding, part_bytes=max(len(data) // parts, 200)))
        return
    read = list(imports.read_file_parts(path, encoding=encoding, part_bytes=max(len(data) // parts, 200)))
    together = pd.concat(read)
    assert together.index.tolist() == list(range(len(whole)))  # each part numbered by its rows in the file
    pd.testing.assert_frame_equal(together.reset_index(drop=True), whole, check_dtype=False)
