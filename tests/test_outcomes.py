"""Typed result records: files written now carry schema_version, older files still load, a truncated
file is an error (never half a result), and the headline states the result in one line."""

from __future__ import annotations

import json

import pytest

from nclattice.cli import main
from nclattice.errors import NclatticeError
from nclattice.flows.outcomes import SCHEMA_VERSION, CalibrationOutcome
from nclattice.flows.registry import CAPABILITIES


def test_result_file_round_trip_headline_and_old_files(tmp_path, capsys):
    out = tmp_path / "occ"
    assert main(["kinetics", "occupation", "--gamma0-t", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    cap = CAPABILITIES["kinetics-occupation"]
    outcome = cap.load(out)
    assert outcome.schema_version == SCHEMA_VERSION
    assert outcome.headline() in printed  # the command prints the same line
    again = outcome.to_json(tmp_path / "copy" / "occupation.json")
    assert json.loads(again.read_text()) == json.loads((out / "occupation.json").read_text())
    # a file from before schema_version loads as version 1, extra keys kept
    old = json.loads((out / "occupation.json").read_text())
    del old["schema_version"]
    (out / "occupation.json").write_text(json.dumps(old))
    legacy = cap.load(out)
    assert legacy.schema_version == 1 and legacy.p1 == outcome.p1 and "curve" in legacy.model_extra
    # truncated: an error naming the file, not a partial record
    (out / "occupation.json").write_text(json.dumps(old)[:50])
    with pytest.raises(NclatticeError, match=r"not a complete occupation\.json"):
        cap.load(out)


def test_missing_keys_are_an_error_and_headline_of_a_calibration(tmp_path):
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"temperatures_k": [200, 300, 400]}))
    with pytest.raises(NclatticeError, match=r"calibration\.json"):
        CalibrationOutcome.from_json(path)
    fit = {"slope_angstrom2_per_k": 1.5e-4, "slope_stderr": 2e-6, "r2": 0.998, "intercept_angstrom2": 0.001}
    path.write_text(json.dumps({"temperatures_k": [200, 300, 400], "fit": {"diffraction_weighted": fit}}))
    assert CalibrationOutcome.from_json(tmp_path).headline().startswith("slope b = 1.500e-04 ± 2.0e-06 Å²/K")
