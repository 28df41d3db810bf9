"""LAMMPS MD engine: reproducibility, thermostatting, free-crystal protocol, isolation."""

import numpy as np
import pytest

from nclattice.structures import build_pbse
from nclattice.tasks.md import MDError, MDSettings, run_nvt
from nclattice.tasks.msd import remove_rigid_body_motion


@pytest.fixture(scope="module")
def traj(nc, sw):
    return run_nvt(nc, sw, MDSettings(300, equilibration_ps=2, production_ps=4, seed=11))


def test_same_seed_same_trajectory_other_seed_differs(nc, sw, traj):
    again = run_nvt(nc, sw, MDSettings(300, equilibration_ps=2, production_ps=4, seed=11))
    other = run_nvt(nc, sw, MDSettings(300, equilibration_ps=2, production_ps=4, seed=12))
    assert np.array_equal(traj.positions_angstrom, again.positions_angstrom)
    assert not np.allclose(traj.positions_angstrom, other.positions_angstrom)


def test_thermostat_holds_the_target_and_crystal_does_not_drift(nc, traj):
    assert traj.positions_angstrom.shape == (200, len(nc), 3)
    assert traj.temperature_k.mean() == pytest.approx(300, rel=0.05)
    masses = traj.masses_amu / traj.masses_amu.sum()
    com = np.einsum("fij,i->fj", traj.positions_angstrom, masses)
    assert np.ptp(com, axis=0).max() < 0.05  # linear momentum removed
    # angular momentum removed: the frame-to-mean rotation stays tiny
    aligned = remove_rigid_body_motion(traj.positions_angstrom, traj.masses_amu)
    raw = traj.positions_angstrom - com[:, None]
    rms_rot = np.sqrt(np.mean((raw - aligned) ** 2))
    assert rms_rot < 0.05
    assert np.isfinite(traj.potential_energy_ev).all()


def test_a_50_fs_timestep_fails_naming_the_cause(nc, sw):
    with pytest.raises(MDError, match="timestep 50"):
        run_nvt(nc, sw, MDSettings(300, equilibration_ps=1, production_ps=2, timestep_fs=50,
                                   sample_every_fs=100))


def test_bad_settings_are_rejected_before_running(nc, sw):
    with pytest.raises(MDError, match="temperature must be positive"):
        run_nvt(nc, sw, MDSettings(-5))
    with pytest.raises(MDError, match="thermostat"):
        run_nvt(nc, sw, MDSettings(300, thermostat="berendsen"))


def test_uncovered_elements_fail_before_running(sw):
    with pytest.raises(Exception, match="no parameters for Pb"):
        run_nvt(build_pbse(2.0), sw, MDSettings(300))


def test_nose_hoover_and_csvr_thermostats(nc, sw):
    for name in ("nose-hoover", "csvr"):
        t = run_nvt(nc, sw, MDSettings(400, equilibration_ps=2, production_ps=4, thermostat=name, seed=3))
        assert t.temperature_k.mean() == pytest.approx(400, rel=0.08)
