"""Canonical input keys and result writing."""

import json

import numpy as np
import pytest

from nclattice.cache import verified_result
from nclattice.provenance import input_key, provenance, structure_fingerprint
from nclattice.results import read_json, save_arrays, write_json
from nclattice.structures import build_cdse


def test_key_ignores_dict_order_and_identity_but_not_content():
    a = build_cdse(2.0)
    b = build_cdse(2.0)
    assert a is not b
    assert input_key(a, {"t": 300.0, "seed": 1}) == input_key(b, {"seed": 1, "t": 300.0})
    assert input_key(a, {"t": 300.0}) != input_key(a, {"t": 301.0})
    moved = a.copy()
    moved.positions[0, 0] += 1e-3
    assert structure_fingerprint(moved) != structure_fingerprint(a)


def test_provenance_records_versions_and_seed():
    record = provenance(seed=7, potential={"name": "x", "sha256": "abc"})
    assert record["seed"] == 7 and record["potential"]["name"] == "x"
    assert record["packages"]["numpy"] == np.__version__
    json.dumps(record)


def test_result_written_atomically_and_json_safe(tmp_path):
    d = tmp_path / "flow" / "key"
    assert verified_result(d) is None
    save_arrays(d / "arrays.npz", x=np.arange(3))
    write_json(d / "result.json", {"value": np.float64(1.5), "bad": float("nan"), "n": np.int64(2)})
    assert verified_result(d) is not None
    assert read_json(d / "result.json") == {"value": 1.5, "bad": None, "n": 2}
    assert sorted(p.name for p in d.iterdir()) == ["arrays.npz", "result.json"]


def test_failed_write_leaves_nothing(tmp_path):
    from nclattice.atomicio import write_atomic

    def broken(path):
        path.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_atomic(tmp_path / "x.json", broken)
    assert list(tmp_path.iterdir()) == []
