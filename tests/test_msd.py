"""MSD kernel against synthetic trajectories with known displacements (a second method)."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from nclattice.tasks.msd import FAMILIES, group_masks, msd_from_frames, summarize


def _synthetic(n_frames=400, sigma=(0.10, 0.10, 0.20), seed=0):
    """A rigid 'crystal' with Gaussian thermal displacements, then random rotations and shifts."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(-2, 3) * 3.0] * 3, indexing="ij"), -1).reshape(-1, 3)
    disp = rng.normal(0.0, sigma, size=(n_frames, len(grid), 3))
    disp -= disp.mean(1, keepdims=True)
    rotations = Rotation.random(n_frames, random_state=seed).as_matrix()
    rotations[0] = np.eye(3)  # aligned frames take frame 0's orientation: make it the body frame
    shifts = rng.normal(0, 5.0, size=(n_frames, 1, 3))
    frames = np.einsum("fij,faj->fai", rotations, grid + disp) + shifts
    return frames, np.ones(len(grid)), grid + disp, np.array(sigma)


def test_rigid_body_motion_is_removed_and_variance_recovered():
    frames, masses, _, sigma = _synthetic()
    result = msd_from_frames(frames, masses)
    expected = np.sum(sigma**2)  # 3D ⟨u²⟩ = σx² + σy² + σz²
    assert result.per_atom_angstrom2.mean() == pytest.approx(expected, rel=0.05)
    assert result.along([0, 0, 1]) == pytest.approx(sigma[2] ** 2, rel=0.08)
    assert result.along([1, 0, 0]) == pytest.approx(sigma[0] ** 2, rel=0.08)
    # a family average of an anisotropic ellipsoid: <111> directions see the mean variance
    assert result.along(FAMILIES["<111>"]) == pytest.approx(np.mean(sigma**2), rel=0.08)


def test_block_error_matches_the_scatter_of_independent_runs():
    values, errors = [], []
    for seed in range(8):
        frames, masses, _, _ = _synthetic(n_frames=100, seed=seed)
        value, err = msd_from_frames(frames, masses).select(np.ones(frames.shape[1], bool))
        values.append(value)
        errors.append(err)
    # the block estimate agrees with the real run-to-run scatter within a factor of 2.5
    assert np.std(values, ddof=1) / np.mean(errors) == pytest.approx(1.0, abs=0.6)


def test_groups_and_weighting():
    symbols = ["Cd", "Se", "Cd", "S"]
    arrays = {"region": np.array(["core", "core", "shell", "shell"]),
              "surface": np.array([False, False, True, True])}
    masks = group_masks(symbols, arrays)
    assert masks["Cd@shell"].tolist() == [False, False, True, False]
    assert masks["surface"].sum() == 2 and "interior" in masks
    frames, masses, _, _ = _synthetic()
    result = msd_from_frames(frames[:, :4], masses[:4])
    summary = summarize(result, symbols, arrays)
    b = summary["groups"]["Cd"]["b_factor_angstrom2"]
    assert b == pytest.approx(8 * np.pi**2 * summary["groups"]["Cd"]["msd_angstrom2"] / 3)
    assert "diffraction_weighted" in summary["groups"]


def test_too_few_frames_is_an_error():
    with pytest.raises(ValueError, match="at least 10 frames"):
        msd_from_frames(np.zeros((4, 3, 3)), np.ones(3))
