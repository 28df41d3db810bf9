"""Typed result records: files written now carry schema_version, older files still load, a truncated
file is an error (never half a result), and the headline states the result in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nclattice.cli import main
from nclattice.errors import NclatticeError
from nclattice.flows.outcomes import (
    SCHEMA_VERSION,
    CalibrationOutcome,
    DecompositionOutcome,
    DiffractionOutcome,
    PeakShiftsOutcome,
    SpinOutcome,
    UedOutcome,
)
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


REPRODUCTION = Path(__file__).resolve().parents[1] / "docs" / "reproduction"
KEPT_EXTRA = {"curve", "warnings"}  # occupation's curve; polaron-diffraction's warnings (the name is a method)


def test_committed_results_load_with_every_key_declared_and_write_back_unchanged(tmp_path):
    """The committed reproduction results (written before fields were declared) load under their outcome,
    every key is a declared field (peak_shifts.json: its hkl keys), and to_json writes the same JSON."""
    by_file = {cap.outcome.file: cap.outcome for cap in CAPABILITIES.values()}
    by_file[PeakShiftsOutcome.file] = PeakShiftsOutcome
    seen = set()
    for path in sorted(REPRODUCTION.glob("*/*.json")):
        if path.name == "run.json":  # the command that made the folder, not a result
            continue
        cls = by_file[path.name]
        outcome = cls.from_json(path)
        extra = set(outcome.model_extra or {})
        if cls is PeakShiftsOutcome:
            assert extra == set(outcome.peaks()) and {"200", "110"} <= extra, path
        else:
            assert extra <= KEPT_EXTRA, (path, extra - KEPT_EXTRA)
        written = outcome.to_json(tmp_path / path.parent.name / path.name)
        assert json.loads(written.read_text()) == json.loads(path.read_text()), path
        seen.add(cls)
    assert {SpinOutcome, DiffractionOutcome, PeakShiftsOutcome, CalibrationOutcome} <= seen


def test_ued_and_decomposition_files_with_only_their_first_keys_still_load(tmp_path):
    """Files from before the optional fields were declared: the defaults fill in, 'in' says what was there."""
    (tmp_path / "ued.json").write_text(json.dumps({"delays_ps": [0, 5], "delta_msd_angstrom2": [0.0, 2e-3],
                                                   "delta_t_k": [0.0, 20.0]}))
    ued = UedOutcome.from_json(tmp_path)
    assert ued.schema_version == 1 and ued.delta_msd_stderr == [] and "delta_msd_stderr" not in ued
    assert ued.headline().startswith("ΔT at the last delay 20.0 K")
    (tmp_path / "decomposition.json").write_text(json.dumps({"delays_ps": [0, 5], "disorder_b": [0.0, 0.3],
                                                             "disorder_b_stderr": [0.1, 0.1]}))
    dec = DecompositionOutcome.from_json(tmp_path)
    assert dec.delta_t_k == [] and dec.headline() == "last delay: disorder b = 0.3 ± 0.1 (z = 3.0)"
