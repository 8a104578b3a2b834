import json

import numpy as np
import pytest

from features.artifacts import (
    IncompatibleModelError,
    check_model,
    load_arrays,
    save_arrays,
    write_checksums,
)
from features.customer_features import get_feature_set


@pytest.fixture
def churn_dir(tmp_path):
    columns = list(get_feature_set("customer_v2").columns)
    (tmp_path / "meta.json").write_text(json.dumps(
        {"format": "shelfwise-lgbm-v1", "feature_set": "customer_v2", "feature_columns": columns}))
    (tmp_path / "model.lgb").write_text("tree\n" * 100)
    write_checksums(tmp_path)
    return tmp_path


def test_an_untouched_model_passes_and_its_meta_is_returned(churn_dir):
    assert check_model(churn_dir, "churn")["feature_set"] == "customer_v2"


@pytest.mark.parametrize("damage, error", [
    (lambda p: p.write_text("tree\n" * 99), r"model.lgb: 495 bytes, 500 when it was trained \(truncated"),
    (lambda p: p.write_text("TREE\n" * 100), "model.lgb: content differs from when it was trained"),
    (lambda p: p.unlink(), "model.lgb: missing from the model"),
    (lambda p: (p.parent / "mapped").mkdir() or np.save(p.parent / "mapped" / "extra.npy", np.zeros(3)),
     r"mapped/extra.npy: not written by training"),
])
def test_a_truncated_changed_or_missing_file_is_refused_naming_it(churn_dir, damage, error):
    damage(churn_dir / "model.lgb")
    with pytest.raises(IncompatibleModelError, match=error):
        check_model(churn_dir, "churn")


def test_a_model_of_another_family_or_without_checksums_is_refused(churn_dir):
    with pytest.raises(IncompatibleModelError, match="'shelfwise-lgbm-v1', this code reads 'shelfwise-recs-v5'"):
        check_model(churn_dir, "recs")
    (churn_dir / "checksums.json").unlink()
    with pytest.raises(IncompatibleModelError, match="no checksums.json"):
        check_model(churn_dir, "churn")


def test_large_arrays_load_memory_mapped_and_read_only_so_workers_share_them(tmp_path):
    indices = np.array([0, 2, 1], np.int32)
    save_arrays(tmp_path, {"user_ids": np.array(["a", "b"])}, {"indices": indices})
    write_checksums(tmp_path)

    a = load_arrays(tmp_path)

    assert list(a["user_ids"]) == ["a", "b"] and not isinstance(a["user_ids"], np.memmap)
    assert isinstance(a["indices"], np.memmap) and not a["indices"].flags.writeable
    np.testing.assert_array_equal(a["indices"], indices)
    assert "mapped/indices.npy" in json.loads((tmp_path / "checksums.json").read_text())
