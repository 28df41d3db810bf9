"""Kinetic models against paper numbers, analytic limits and a second method."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from nclattice.errors import NclatticeError
from nclattice.tasks import kinetics as kin


# ---------------------------------------------------------------- excitation statistics
def test_cross_section_times_fluence_matches_papers():
    # Shen et al. S2: the fluence was set so that σ·J = 1 at 477 nm (67.6 µJ cm⁻², σ = 6.16e-15 cm²)
    assert kin.mean_excitations(67.6e-3, 477.0, kin.CSPBBR3_SIGMA_477NM_CM2) == pytest.approx(1.0, abs=2e-3)
    # Guzelturk et al., Nat. Commun. 2021: ⟨N⟩ ≈ 10 per mJ cm⁻² at 510 nm, linear in fluence -> 21 at 2.1 mJ cm⁻²
    assert kin.mean_excitations(2.1, 510.0, kin.CDSE_CDS_SIGMA_510NM_CM2) == pytest.approx(21.0)
    p = kin.poisson_populations(3.0)
    assert p.sum() == pytest.approx(1.0) and np.arange(p.size) @ p == pytest.approx(3.0)
    with pytest.raises(NclatticeError):
        kin.mean_excitations(-1.0, 510.0, 1e-15)


# ---------------------------------------------------------------- occupation (Shen et al., XFEL exciton-polaron paper)
def test_occupation_model_paper_values():
    occ = kin.occupation_model(1.0, 0.4)
    assert (round(occ.p0, 3), round(occ.p1, 3), round(occ.p2, 3)) == (0.368, 0.504, 0.128)
    assert round(occ.mean_pairs, 3) == 0.760


@pytest.mark.parametrize(("g0t", "ratio"), [(1.0, 0.4), (2.5, 0.7), (0.8, 1.0)])
def test_occupation_matches_rate_equations(g0t, ratio):
    def rhs(_, p):
        return [-p[0], p[0] - ratio * p[1], ratio * p[1]]  # time in units of 1/γ0

    sol = solve_ivp(rhs, (0, g0t), [1, 0, 0], rtol=1e-10, atol=1e-12)
    occ = kin.occupation_model(g0t, ratio)
    assert [occ.p0, occ.p1, occ.p2] == pytest.approx(sol.y[:, -1], abs=1e-8)


# ---------------------------------------------------------------- Auger heating
def test_gillespie_agrees_with_master_equation():
    times = np.linspace(0.0, 1000.0, 101)
    g = kin.auger_heating_gillespie(21.0, 625.0, times, n_nc=20000, seed=3)
    energy, excitons = kin.auger_master_equation(21.0, 625.0, times)
    z = (g.delta_energy_per_nc[1:] - energy[1:]) / g.delta_energy_stderr[1:]
    assert np.max(np.abs(z)) < 4.0
    # the ensemble mean of N is a second, independent observable of the same agreement
    assert g.excitons_mean[-1] == pytest.approx(excitons[-1], abs=0.05)


def test_master_equation_limits():
    mean, tau = 21.0, 625.0
    # initial rate: d E/dt = ⟨N(N−1)⟩/2τ = ⟨N⟩²/2τ for a Poisson ensemble
    e, _ = kin.auger_master_equation(mean, tau, np.array([0.0, 0.01]))
    assert e[1] / 0.01 == pytest.approx(mean**2 / (2 * tau), rel=1e-3)
    # long times: every NC keeps min(N, 1) excitons -> E = ⟨N⟩ − P(N ≥ 1)
    e, _ = kin.auger_master_equation(mean, tau, np.array([0.0, 1e6]))
    assert e[-1] == pytest.approx(mean - 1 + np.exp(-mean), rel=1e-9)
    # the naive Poisson closure overshoots: it lets ⟨N⟩ fall below one exciton per NC
    assert kin.auger_poisson_closure(mean, tau, np.array([1e6]))[0] > e[-1] + 0.9


def test_auger_paper_case_time_constant_is_reported_with_ci():
    times = np.linspace(0.0, 1000.0, 201)
    energy, _ = kin.auger_master_equation(21.0, 625.0, times)
    fit = kin.fit_exponential(times, energy)
    lo, hi = fit.taus_ci95_ps[0]
    assert lo < fit.tau_ps < hi
    # bounded by the initial Auger time scale 2τ_AR/⟨N⟩ and the last biexciton step τ_AR
    assert 2 * 625.0 / 21.0 < fit.tau_ps < 625.0


def test_auger_rise_time_analytic_limits():
    tau = 625.0
    # ⟨N⟩ → 0: only biexcitons matter, E ∝ 1 − exp(−t/τ_AR) reaches 63.2 % at τ_AR
    assert kin.auger_rise_time_ps(1e-3, tau) == pytest.approx(tau, rel=1e-3)
    # large ⟨N⟩: deterministic cascade 1 − 1/N(t) = (1 − 1/N0) e^{−t/2τ} -> 2(e − 1)τ/N0 (O(1/N0) corrections)
    assert kin.auger_rise_time_ps(100.0, tau) == pytest.approx(2 * (np.e - 1) * tau / 100.0, rel=0.03)
    # Guzelturk et al. 2021 case, ⟨N⟩ = 21: the model's rise is ~95 ps, not the ~200 ps fitted to the data
    rise = kin.auger_rise_time_ps(21.0, tau)
    e, _ = kin.auger_master_equation(21.0, tau, np.array([rise]))
    assert e[0] == pytest.approx((1 - np.exp(-1)) * kin.auger_final_energy(21.0), rel=1e-6)
    assert 85.0 < rise < 105.0


def test_trapping_suppresses_auger_heating_exactly():
    mean, tau_a, tau_t, trap_e = 1.5, 50.0, 20.0, 0.25
    g = kin.auger_heating_gillespie(mean, tau_a, np.array([0.0, 1e5]), n_nc=40000, seed=5,
                                    tau_trap_ps=tau_t, trap_energy=trap_e)
    # second method: expected final energy by recursion over N (competing channels)
    p = kin.poisson_populations(mean)
    expected = np.zeros(p.size)
    for n in range(1, p.size):
        ka, kt = n * (n - 1) / (2 * tau_a), n / tau_t
        expected[n] = (ka * 1.0 + kt * trap_e) / (ka + kt) + expected[n - 1]
    assert g.delta_energy_per_nc[-1] == pytest.approx(p @ expected, abs=4 * g.delta_energy_stderr[-1])
    # no trapping equals pure Auger; very fast trapping leaves almost no Auger heating
    times = np.linspace(0, 300, 31)
    a = kin.auger_heating_gillespie(10.0, 625.0, times, n_nc=2000, seed=1)
    b = kin.auger_heating_gillespie(10.0, 625.0, times, n_nc=2000, seed=1, tau_trap_ps=np.inf)
    fast = kin.auger_heating_gillespie(10.0, 625.0, times, n_nc=2000, seed=1, tau_trap_ps=0.01)
    assert np.array_equal(a.delta_energy_per_nc, b.delta_energy_per_nc)
    assert fast.delta_energy_per_nc[-1] < 0.01 and fast.trapped_mean[-1] == pytest.approx(10.0, rel=0.05)


def test_gillespie_is_reproducible_per_seed():
    t = np.linspace(0, 100, 11)
    a = kin.auger_heating_gillespie(5.0, 100.0, t, n_nc=500, seed=9)
    b = kin.auger_heating_gillespie(5.0, 100.0, t, n_nc=500, seed=9)
    c = kin.auger_heating_gillespie(5.0, 100.0, t, n_nc=500, seed=10)
    assert np.array_equal(a.delta_energy_per_nc, b.delta_energy_per_nc)
    assert not np.array_equal(a.delta_energy_per_nc, c.delta_energy_per_nc)


# ---------------------------------------------------------------- hot-carrier trapping, state filling (Vonk 2025)
@pytest.mark.parametrize(("n", "expected_paper"), [(1, 0.85), (3, 0.61)])
def test_cooling_probability_cascade(n, expected_paper):
    assert kin.cooling_probability(n, 0.15) == pytest.approx(expected_paper, abs=0.005)
    _, trapped = kin.cooling_cascade_monte_carlo(np.full(50000, n), 0.15, seed=n)
    p = (1 - 0.15) ** n
    assert (~trapped).mean() == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / 50000))


def test_state_filling_ensemble_matches_monte_carlo_cascade():
    n_bar, p_trap = 7.1, 0.15
    rng = np.random.default_rng(0)
    n_hot = rng.poisson(n_bar, 100000)
    cooled, _ = kin.cooling_cascade_monte_carlo(n_hot, p_trap, seed=1)
    x = kin.band_edge_filling(cooled)
    sf = kin.state_filling(n_bar, p_trap)
    assert sf.bleach == pytest.approx(x.mean(), abs=4 * x.std() / np.sqrt(x.size))
    # thinning identity: trapping-free part is e^{−P n̄} × (bleach of a Poisson ensemble of mean (1−P) n̄)
    thinned = kin.state_filling((1 - p_trap) * n_bar, 0.0).bleach_without_trapping
    assert sf.bleach == pytest.approx(np.exp(-p_trap * n_bar) * thinned, rel=1e-9)


def test_state_filling_limits_and_effective_excitations():
    full = kin.state_filling(200.0, 0.0)
    assert full.bleach_without_trapping == pytest.approx(2.0)  # A = −A0: full inversion
    assert full.gain_max == pytest.approx(1.0, abs=1e-3)
    assert kin.state_filling(200.0, 0.0, stokes_shift_ev=0.07).gain_max == pytest.approx(1.0, abs=1e-3)
    for m in (0.3, 1.5, 4.0):
        x = kin.state_filling(m, 0.0).bleach_without_trapping
        assert kin.effective_excitations(x) == pytest.approx(m, rel=1e-6)
    sf = kin.state_filling(7.1, 0.15)
    assert sf.n_eff < 7.1 and sf.bleach < sf.bleach_without_trapping
    # the simple model (trap quenches the QD) leaves no gain at n̄ = 7.1
    assert sf.gain_max == 0.0 < sf.gain_max_without_trapping
    with pytest.raises(NclatticeError):
        kin.state_filling(1.0, 1.5)


# ---------------------------------------------------------------- fits
def test_exponential_fits_recover_parameters_within_ci():
    rng = np.random.default_rng(2)
    t = np.linspace(-10, 300, 80)
    y = 5.0 * -np.expm1(-np.clip(t, 0, None) / 40.0)
    err = np.full(t.size, 0.1)
    fit = kin.fit_exponential(t, y + err * rng.standard_normal(t.size), err)
    lo, hi = fit.taus_ci95_ps[0]
    assert lo < 40.0 < hi and 0.5 < fit.chi2_reduced < 1.6
    y2 = 2.0 * -np.expm1(-np.clip(t, 0, None) / 3.0) + 3.0 * -np.expm1(-np.clip(t, 0, None) / 80.0)
    fit2 = kin.fit_exponential(t, y2 + 0.02 * rng.standard_normal(t.size), np.full(t.size, 0.02),
                               n_components=2)
    for tau, (lo, hi) in zip((3.0, 80.0), fit2.taus_ci95_ps, strict=True):
        assert lo < tau < hi


def test_auger_model_fit_recovers_tau_and_scale():
    rng = np.random.default_rng(4)
    t = np.concatenate([[-20.0], np.linspace(0, 1000, 60)])
    energy, _ = kin.auger_master_equation(21.0, 625.0, np.clip(t, 0, None))
    err = np.full(t.size, 0.4)
    dt = 0.67 * energy + err * rng.standard_normal(t.size)
    f = kin.fit_auger_heating(t, dt, err, 21.0)
    assert abs(f.tau_auger_ps - 625.0) < 3 * f.tau_auger_stderr_ps
    assert abs(f.kelvin_per_exciton - 0.67) < 3 * f.kelvin_per_exciton_stderr


def test_kelvin_per_exciton_energy_is_dulong_petit():
    """2 eV into the 10,901-atom 8 ML CdSe/CdS model NC: 2 / (3 N k_B) = 0.71 K per exciton."""
    assert kin.kelvin_per_exciton_energy(2.0, 10901) == pytest.approx(2.0 / (3 * 10901 * 8.617333262e-5))
    with pytest.raises(NclatticeError, match="exciton_energy_ev"):
        kin.kelvin_per_exciton_energy(0.0, 10901)
