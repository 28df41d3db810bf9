"""Kinetic models of photoexcited nanocrystals and exponential time fits.

- excitation statistics: ⟨N⟩ = σ·J, Poisson populations (Guzelturk et al. 2021; Shen et al.; Vonk et al. 2025);
- Auger heating: exact stochastic simulation (Gillespie) of an NC ensemble with Auger rate
  N(N−1)/(2τ_AR), each event depositing one exciton's energy in the lattice (Guzelturk et al., Nat. Commun. 2021),
  optionally competing with fast hot-hole surface trapping; the ensemble master equation
  for P(N, t) as the deterministic check;
- resonant occupation model with absorption reduction, P0, P1, P2 (Shen et al., supplement S2);
- hot-carrier trapping with state filling: band-edge bleach, gain and n̄_eff (Vonk et al., Nat. Commun. 2025);
- single/double exponential fits with confidence intervals, and a fit of (τ_AR, energy scale)
  to a measured ΔT(t).

Energies of the kinetic models are counted in units of one band-edge exciton's energy.
Pure functions only; the Prefect tasks are built lazily at the bottom (importing Prefect
costs seconds, and the command line must stay quick).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy  # submodules load on first use (scipy.stats alone costs ~0.3 s)

from ..errors import NclatticeError

HC_EV_NM = 1239.841984  # h·c in eV·nm
EV_J = 1.602176634e-19
# Guzelturk 2021: ⟨N⟩ ≈ 10 per mJ cm⁻² at 510 nm for the 8 ML CdSe/CdS NC -> σ = 10 / J(1 mJ cm⁻², 510 nm)
CDSE_CDS_SIGMA_510NM_CM2 = 10.0 / (1e-3 / (HC_EV_NM / 510.0 * EV_J))
# Shen et al., XFEL exciton-polaron paper, supplement S2: CsPbBr3 QDs at 477 nm
CSPBBR3_SIGMA_477NM_CM2 = 6.16e-15


# ---------------------------------------------------------------- excitation statistics
def photons_per_cm2(fluence_mj_cm2: float, wavelength_nm: float) -> float:
    """Photon fluence J (cm⁻²) of a pulse with energy fluence in mJ cm⁻² at the given wavelength."""
    if fluence_mj_cm2 < 0 or wavelength_nm <= 0:
        raise NclatticeError("fluence must be >= 0 mJ cm^-2 and wavelength > 0 nm.")
    return fluence_mj_cm2 * 1e-3 / (HC_EV_NM / wavelength_nm * EV_J)


def mean_excitations(fluence_mj_cm2: float, wavelength_nm: float, cross_section_cm2: float) -> float:
    """⟨N⟩ = σ·J: mean number of absorbed photons (excitons) per NC."""
    if cross_section_cm2 <= 0:
        raise NclatticeError("the absorption cross-section must be > 0 cm^2.")
    return cross_section_cm2 * photons_per_cm2(fluence_mj_cm2, wavelength_nm)


def poisson_populations(mean: float, n_max: int | None = None) -> np.ndarray:
    """P(N) for N = 0..n_max (default: far enough that the tail is < 1e-13), renormalized."""
    if mean < 0:
        raise NclatticeError("the mean number of excitations must be >= 0.")
    if n_max is None:
        n_max = int(mean + 12.0 * np.sqrt(mean) + 15)
    p = scipy.stats.poisson.pmf(np.arange(n_max + 1), mean)
    return p / p.sum()


# ---------------------------------------------------------------- Auger heating (Gillespie)
@dataclass(frozen=True)
class HeatingResult:
    """Ensemble-averaged energy deposited per NC (exciton-energy units) on a time grid."""

    times_ps: np.ndarray
    delta_energy_per_nc: np.ndarray
    delta_energy_stderr: np.ndarray
    excitons_mean: np.ndarray        # band-edge excitons still able to Auger-recombine
    trapped_mean: np.ndarray         # excitons with a surface-trapped hole (0 without trapping)
    n_nc: int
    seed: int | None
    initial_excitons: np.ndarray = field(repr=False)


def _auger_rate_per_ps(n: np.ndarray, tau_auger_ps: float) -> np.ndarray:
    return n * (n - 1) / (2.0 * tau_auger_ps)


def _gillespie_events(n0: np.ndarray, tau_auger_ps: float, tau_trap_ps: float,
                      trap_energy: float, rng: np.random.Generator):
    """Exact stochastic trajectories, all NCs advanced together one event per sweep.

    Channels per NC with n band-edge excitons: Auger (rate n(n−1)/2τ_AR; one exciton's energy
    to the lattice, n → n−1) and hole trapping (rate n/τ_trap; the exciton leaves the Auger
    pool, depositing ``trap_energy``). Every event lowers n, so ≤ max(n0) sweeps.
    Returns per-event arrays (n_nc, n_sweeps): time, energy deposit, kind (1 Auger, 2 trap).
    """
    n = n0.astype(np.int64).copy()
    t = np.zeros(n.size)
    times, deposits, kinds = [], [], []
    for _ in range(int(n0.max(initial=0))):
        k_auger = _auger_rate_per_ps(n, tau_auger_ps)
        k_trap = n / tau_trap_ps if np.isfinite(tau_trap_ps) else np.zeros(n.size)
        total = k_auger + k_trap
        active = total > 0
        if not active.any():
            break
        # draw for every NC (fixed stream per seed), use only where a reaction is possible
        u_time, u_pick = rng.random(n.size), rng.random(n.size)
        with np.errstate(divide="ignore", invalid="ignore"):
            dt = np.where(active, -np.log1p(-u_time) / total, np.inf)
            is_auger = u_pick * total < k_auger
        t = t + dt
        kind = np.where(active, np.where(is_auger, 1, 2), 0)
        times.append(np.where(active, t, np.inf))
        deposits.append(np.where(kind == 1, 1.0, np.where(kind == 2, trap_energy, 0.0)))
        kinds.append(kind)
        n = n - active
    if not times:
        empty = np.zeros((n0.size, 0))
        return empty, empty, empty.astype(int)
    return np.stack(times, 1), np.stack(deposits, 1), np.stack(kinds, 1)


def _grid_moments(event_times: np.ndarray, values: np.ndarray,
                  times_ps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ensemble mean and mean square over NCs of X(t) = Σ_j v_j [t_j ≤ t] on the grid.

    Events are time-ordered along axis 1, so X(t)² = Σ_j [t_j ≤ t] v_j (2 C_j − v_j) with C_j
    the running sum: both moments are histograms of the events over grid bins, O(events).
    """
    n_nc = values.shape[0]
    running = np.cumsum(values, 1)
    first_bin = np.searchsorted(times_ps, event_times, side="left").ravel()  # first t ≥ t_j
    counted = first_bin < times_ps.size
    bins = first_bin[counted]

    def histogram(weights: np.ndarray) -> np.ndarray:
        return np.cumsum(np.bincount(bins, weights[counted], times_ps.size)) / n_nc

    return histogram(values.ravel()), histogram((values * (2 * running - values)).ravel())


def auger_heating_gillespie(mean_excitons: float, tau_auger_ps: float, times_ps: np.ndarray,
                            n_nc: int = 20000, seed: int = 0, tau_trap_ps: float = np.inf,
                            trap_energy: float = 0.0) -> HeatingResult:
    """Auger heating of a Poisson ensemble of NCs by the Gillespie algorithm.

    With finite ``tau_trap_ps`` each band-edge exciton also loses its hole to a surface trap
    at rate 1/τ_trap, after which it no longer takes part in Auger recombination (Guzelturk et al., Nat. Commun. 2021,
    340 nm excitation: trapping competes with and suppresses Auger heating).
    """
    _check_positive(tau_auger_ps=tau_auger_ps, tau_trap_ps=tau_trap_ps, n_nc=n_nc)
    rng = np.random.default_rng(seed)
    times_ps = np.asarray(times_ps, float)
    n0 = rng.poisson(mean_excitons, n_nc)
    ev_t, ev_e, ev_k = _gillespie_events(n0, tau_auger_ps, tau_trap_ps, trap_energy, rng)
    if np.any(np.diff(times_ps) < 0):
        raise NclatticeError("times_ps must be increasing.")
    energy, energy_sq = _grid_moments(ev_t, ev_e, times_ps)
    trapped, _ = _grid_moments(ev_t, (ev_k == 2).astype(float), times_ps)
    removed, _ = _grid_moments(ev_t, (ev_k > 0).astype(float), times_ps)
    variance = np.clip(energy_sq - energy**2, 0.0, None) * n_nc / max(n_nc - 1, 1)
    return HeatingResult(
        times_ps=times_ps, delta_energy_per_nc=energy, delta_energy_stderr=np.sqrt(variance / n_nc),
        excitons_mean=n0.mean() - removed, trapped_mean=trapped, n_nc=n_nc, seed=seed,
        initial_excitons=n0)


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise NclatticeError(f"{name} must be > 0 (got {value}).")


# ---------------------------------------------------------------- deterministic checks
def auger_master_equation(mean_excitons: float, tau_auger_ps: float,
                          times_ps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact ensemble solution: dP_N/dt = −k_N P_N + k_{N+1} P_{N+1}, k_N = N(N−1)/2τ_AR.

    The Gillespie ensemble converges to this as the number of NCs grows. Returns
    (energy deposited per NC, mean excitons per NC) on ``times_ps`` (≥ 0, increasing).
    """
    _check_positive(tau_auger_ps=tau_auger_ps)
    times_ps = np.asarray(times_ps, float)
    if times_ps.size and (times_ps[0] < 0 or np.any(np.diff(times_ps) < 0)):
        raise NclatticeError("master-equation times must be >= 0 and increasing.")
    p = poisson_populations(mean_excitons)
    n = np.arange(p.size, dtype=float)
    k = _auger_rate_per_ps(n, tau_auger_ps)
    generator = np.diag(-k) + np.diag(k[1:], 1)  # probability flows from N+1 down to N
    mean_n = np.empty(times_ps.size)
    t_prev, step_cache = 0.0, {}
    for i, t in enumerate(times_ps):
        dt = round(t - t_prev, 9)
        if dt > 0:
            if dt not in step_cache:
                step_cache[dt] = scipy.linalg.expm(generator * dt)
            p = step_cache[dt] @ p
        mean_n[i] = n @ p
        t_prev = t
    return mean_excitons - mean_n, mean_n


def auger_final_energy(mean_excitons: float) -> float:
    """Energy per NC once Auger is over: every NC keeps min(N, 1) excitons, so ⟨N⟩ − P(N ≥ 1)."""
    return float(mean_excitons - 1.0 + np.exp(-mean_excitons))


def kelvin_per_exciton_energy(exciton_energy_ev: float, n_atoms: int) -> float:
    """Lattice temperature rise (K) of an NC of ``n_atoms`` per exciton energy deposited in it.

    ΔT = E_X ΔE / (3 N k_B) with the classical (Dulong-Petit) heat capacity, the one an MD
    calibration samples, so a model ΔT is on the footing of a ΔT read off a measured Δ⟨u²⟩.
    """
    from .ued import dulong_petit_heat_capacity_ev_per_k

    _check_positive(exciton_energy_ev=exciton_energy_ev)
    return exciton_energy_ev / dulong_petit_heat_capacity_ev_per_k(n_atoms)


def auger_rise_time_ps(mean_excitons: float, tau_auger_ps: float, fraction: float = 1.0 - np.exp(-1.0)) -> float:
    """Time at which the exact ensemble has deposited ``fraction`` of its final Auger energy.

    Model-free (no fit window): 63.2 % by default, the time constant of a single exponential
    with the same end point. Limits: τ_AR for ⟨N⟩ → 0 (only biexcitons, E ∝ 1 − e^{−t/τ_AR});
    2(e − 1)τ_AR/⟨N⟩ for large ⟨N⟩, from the deterministic cascade dN/dt = −N(N−1)/2τ_AR,
    whose solution is 1 − 1/N(t) = (1 − 1/N0) e^{−t/2τ_AR}.
    """
    _check_positive(tau_auger_ps=tau_auger_ps, mean_excitons=mean_excitons)
    if not 0 < fraction < 1:
        raise NclatticeError("the rise fraction must lie between 0 and 1.")
    target = fraction * auger_final_energy(mean_excitons)

    def short(t_ps: float) -> float:
        return auger_master_equation(mean_excitons, tau_auger_ps, np.array([t_ps]))[0][0] - target

    hi = tau_auger_ps
    while short(hi) < 0:
        hi *= 2.0
    return float(scipy.optimize.brentq(short, 0.0, hi, xtol=1e-6 * tau_auger_ps))


def auger_poisson_closure(mean_excitons: float, tau_auger_ps: float,
                          times_ps: np.ndarray) -> np.ndarray:
    """Naive mean field d⟨N⟩/dt = −⟨N⟩²/2τ_AR (Poisson closure ⟨N(N−1)⟩ = ⟨N⟩²); energy per NC.

    Not closed in reality: the ensemble stops being Poisson and NCs stop at N ≤ 1, so this
    overestimates the late-time energy by about one exciton per excited NC. Kept to show it.
    """
    t = np.asarray(times_ps, float)
    return mean_excitons - mean_excitons / (1.0 + mean_excitons * t / (2.0 * tau_auger_ps))


# ---------------------------------------------------------------- occupation model (Shen et al.)
@dataclass(frozen=True)
class Occupation:
    p0: float
    p1: float
    p2: float
    mean_pairs: float


def occupation_model(gamma0_t: float, gamma_ratio: float = 0.4) -> Occupation:
    """P0, P1, P2 after a pulse: dP0 = −γ0P0, dP1 = γ0P0 − γ1P1, dP2 = γ1P1 (γ1 = ratio·γ0).

    The first pair lowers the resonant absorption to ``gamma_ratio`` of its initial value and
    two pairs fill the 2-fold electron level (no third pair). mean_pairs = P1 + 2 P2.
    """
    if gamma0_t < 0 or not 0 <= gamma_ratio:
        raise NclatticeError("gamma0*t must be >= 0 and the gamma ratio >= 0.")
    a, b = gamma0_t, gamma_ratio * gamma0_t
    p0 = np.exp(-a)
    # equal rates: the limit of the general formula
    p1 = a * np.exp(-a) if np.isclose(a, b) else a / (a - b) * (np.exp(-b) - np.exp(-a))
    p2 = 1.0 - p0 - p1
    return Occupation(float(p0), float(p1), float(p2), float(p1 + 2 * p2))


# ---------------------------------------------------------------- state filling (Vonk et al., Nat. Commun. 2025)
def band_edge_filling(n: np.ndarray, g_e: int = 2, g_h: int = 4) -> np.ndarray:
    """Fractional filling x = n_e/g_e + n_h/g_h of a QD holding n band-edge pairs (0..2).

    The QD's band-edge absorbance is A/A0 = 1 − x: linear in the carriers, −A0 when full.
    """
    n = np.asarray(n, float)
    return np.minimum(n, g_e) / g_e + np.minimum(n, g_h) / g_h


def cooling_probability(n: np.ndarray, p_trap: float) -> np.ndarray:
    """P_cool(n) = (1 − P_trap)^n: one trapped hot carrier quenches all others (Vonk et al., Nat. Commun. 2025)."""
    return (1.0 - p_trap) ** np.asarray(n, float)


@dataclass(frozen=True)
class StateFilling:
    mean_excitations: float
    bleach: float                     # −ΔA/A0 at the band edge, with trapping
    bleach_without_trapping: float
    n_eff: float | None               # n̄ that gives ``bleach`` without trapping (None: above max)
    gain_max: float                   # max over energy of −A/A0 (> 0 is net gain)
    gain_max_without_trapping: float
    mean_p_trap: float


def _ensemble_filling(mean: float, p_trap: float, g_e: int, g_h: int,
                      trap_oscillator_strength: float, untrapped_fraction: float) -> float:
    """Ensemble mean x over Poisson n, after cooling with trapping cascades."""
    p = poisson_populations(mean)
    n = np.arange(p.size)
    x = band_edge_filling(n, g_e, g_h)
    p_cool = cooling_probability(n, p_trap)
    # a QD where a carrier trapped keeps one trapped pair with reduced oscillator strength
    trapped = (1.0 - p_cool) * trap_oscillator_strength * band_edge_filling(1, g_e, g_h)
    with_traps = p @ (p_cool * x + trapped)
    return float(untrapped_fraction * (p @ x) + (1.0 - untrapped_fraction) * with_traps)


def max_gain(filling: float, stokes_shift_ev: float = 0.0, linewidth_ev: float = 0.1) -> float:
    """max_E −A(E)/A0 for ensemble filling x̄: absorption line L(E−E0)·(1 − x̄/2) minus
    stimulated emission L(E−E0+ΔE)·x̄/2 (Gaussian lines, FWHM ``linewidth_ev``).

    Without Stokes shift this is x̄ − 1, i.e. gain needs x̄ > 1 and saturates at +1 (A = −A0).
    0 means no net gain at any energy (far from the line A → 0, so the maximum is never below 0).
    """
    sigma = linewidth_ev / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    e = np.linspace(-stokes_shift_ev - 4 * sigma, 4 * sigma, 2001)
    absorption = np.exp(-0.5 * (e / sigma) ** 2) * (1.0 - filling / 2.0)
    emission = np.exp(-0.5 * ((e + stokes_shift_ev) / sigma) ** 2) * filling / 2.0
    return max(float(np.max(emission - absorption)), 0.0)


def effective_excitations(bleach: float, g_e: int = 2, g_h: int = 4) -> float | None:
    """n̄_eff: the mean excitation number whose trap-free Poisson bleach equals ``bleach``."""
    full = band_edge_filling(np.inf, g_e, g_h)
    if bleach <= 0:
        return 0.0
    if bleach >= full - 1e-9:
        return None

    def excess(m: float) -> float:
        return _ensemble_filling(m, 0.0, g_e, g_h, 0.0, 0.0) - bleach

    hi = 1.0
    while excess(hi) < 0:
        hi *= 2.0
    return float(scipy.optimize.brentq(excess, 0.0, hi, xtol=1e-10))


def state_filling(mean_excitations: float, p_trap: float = 0.0, g_e: int = 2, g_h: int = 4,
                  trap_oscillator_strength: float = 0.0, untrapped_fraction: float = 0.0,
                  stokes_shift_ev: float = 0.0, linewidth_ev: float = 0.1) -> StateFilling:
    """Band-edge bleach and gain right after cooling, with hot-carrier trapping (Vonk et al., Nat. Commun. 2025).

    Simple model: trapping probability ``p_trap`` per hot excitation, a trap quenches the QD
    (trap_oscillator_strength = 0). Refined model: the trapped pair keeps that fraction of the
    oscillator strength, a fraction ``untrapped_fraction`` of QDs never traps, and emission is
    Stokes shifted by ``stokes_shift_ev`` with respect to absorption.
    """
    if not (0 <= p_trap <= 1 and 0 <= untrapped_fraction <= 1 and 0 <= trap_oscillator_strength <= 1):
        raise NclatticeError("p_trap, untrapped_fraction and trap_oscillator_strength must lie in [0, 1].")
    if mean_excitations < 0 or g_e < 1 or g_h < 1 or linewidth_ev <= 0:
        raise NclatticeError("need mean_excitations >= 0, g_e, g_h >= 1 and linewidth > 0.")
    x = _ensemble_filling(mean_excitations, p_trap, g_e, g_h, trap_oscillator_strength,
                          untrapped_fraction)
    x0 = _ensemble_filling(mean_excitations, 0.0, g_e, g_h, 0.0, 0.0)
    return StateFilling(
        mean_excitations=mean_excitations, bleach=x, bleach_without_trapping=x0,
        n_eff=effective_excitations(x, g_e, g_h),
        gain_max=max_gain(x, stokes_shift_ev, linewidth_ev),
        gain_max_without_trapping=max_gain(x0, stokes_shift_ev, linewidth_ev),
        mean_p_trap=(1.0 - untrapped_fraction) * p_trap)


def cooling_cascade_monte_carlo(n_hot: np.ndarray, p_trap: float, seed: int = 0,
                                cooling_time_ps: float = 0.77) -> tuple[np.ndarray, np.ndarray]:
    """Time-resolved check of the cascade: every hot carrier cools (rate 1/τ_c) or traps
    (rate P/(1−P)/τ_c, so a lone carrier traps with probability P); the first trap in a QD
    quenches all its other carriers. Returns (band-edge pairs per QD, QD had a trap).
    """
    if not 0 <= p_trap < 1:
        raise NclatticeError("p_trap must lie in [0, 1) for the cascade simulation.")
    rng = np.random.default_rng(seed)
    n_hot = np.asarray(n_hot, int)
    k_cool = 1.0 / cooling_time_ps
    k_trap = k_cool * p_trap / (1.0 - p_trap)
    cooled = np.zeros(n_hot.size, int)
    hot = n_hot.copy()
    trapped = np.zeros(n_hot.size, bool)
    while np.any(hot > 0):
        live = hot > 0
        # the next event among `hot` carriers is a trap with probability k_trap/(k_trap+k_cool)
        is_trap = rng.random(n_hot.size) * (k_cool + k_trap) < k_trap
        trapped |= live & is_trap
        cooled += live & ~is_trap
        hot = np.where(live & is_trap, 0, hot - live)
    cooled[trapped] = 0
    return cooled, trapped


# ---------------------------------------------------------------- exponential fits
@dataclass(frozen=True)
class ExpFit:
    """y = offset + Σ_i A_i (1 − exp(−(t − t0)/τ_i)) for t ≥ t0, offset before."""

    model: str
    amplitudes: list[float]
    amplitudes_stderr: list[float]
    taus_ps: list[float]
    taus_stderr_ps: list[float]
    taus_ci95_ps: list[tuple[float, float]]
    offset: float
    chi2_reduced: float
    n_points: int

    @property
    def tau_ps(self) -> float:
        return self.taus_ps[0]


def _rise(t: np.ndarray, t0: float, offset: float, *amp_tau: float) -> np.ndarray:
    dt = np.clip(t - t0, 0.0, None)
    y = np.full(t.shape, offset, float)
    for a, tau in zip(amp_tau[::2], amp_tau[1::2], strict=True):
        y += a * -np.expm1(-dt / tau)
    return y


def fit_exponential(times_ps: np.ndarray, values: np.ndarray, stderr: np.ndarray | None = None,
                    n_components: int = 1, t0_ps: float = 0.0, fit_offset: bool = False,
                    tau_guess_ps: float | None = None) -> ExpFit:
    """Least-squares single (n=1) or double (n=2) exponential rise with 95 % confidence intervals.

    With ``stderr`` the errors are taken as absolute (χ²_red reported); without, the
    covariance is scaled by the residual variance. Raises NclatticeError if the fit fails.
    """
    t, y = np.asarray(times_ps, float), np.asarray(values, float)
    ok = np.isfinite(t) & np.isfinite(y)
    sigma = None if stderr is None else np.asarray(stderr, float)
    if sigma is not None:
        ok &= np.isfinite(sigma) & (sigma > 0)
        sigma = sigma[ok]
    t, y = t[ok], y[ok]
    n_par = 2 * n_components + int(fit_offset)
    if t.size <= n_par or np.ptp(t) <= 0:
        raise NclatticeError(f"an exponential fit with {n_par} parameters needs more than {n_par} "
                             "distinct finite points; supply a longer time series.")
    after = t[t >= t0_ps]
    tau0 = tau_guess_ps if tau_guess_ps else max(np.ptp(after) / 4.0 if after.size else 1.0, 1e-3)
    late = y[t >= np.quantile(t, 0.8)].mean()
    guesses = [tau0] if n_components == 1 else [tau0 / 5.0, tau0 * 2.0]
    p0 = [x for tau in guesses for x in (late / n_components, tau)]

    def model(tt, *par):
        offset = par[0] if fit_offset else 0.0
        return _rise(tt, t0_ps, offset, *par[int(fit_offset):])

    lower = ([-np.inf] if fit_offset else []) + [-np.inf, 1e-6] * n_components
    try:
        par, cov = scipy.optimize.curve_fit(model, t, y, p0=([0.0] if fit_offset else []) + p0,
                                      sigma=sigma, absolute_sigma=sigma is not None,
                                      bounds=(lower, np.inf), maxfev=20000)
    except (RuntimeError, ValueError) as exc:
        raise NclatticeError(f"the exponential fit did not converge ({exc}); try another model.") from exc
    resid = (y - model(t, *par)) / (1.0 if sigma is None else sigma)
    dof = max(t.size - n_par, 1)
    err = np.sqrt(np.clip(np.diag(cov), 0, None))
    return _exp_fit_result(par, err, fit_offset, n_components, dof, float(resid @ resid / dof), t.size)


def _exp_fit_result(par, err, fit_offset, n_components, dof, chi2_red, n_points) -> ExpFit:
    off = par[0] if fit_offset else 0.0
    body, body_err = par[int(fit_offset):], err[int(fit_offset):]
    order = np.argsort(body[1::2])  # fastest component first
    amps, taus = body[0::2][order], body[1::2][order]
    amps_err, taus_err = body_err[0::2][order], body_err[1::2][order]
    tq = scipy.stats.t.ppf(0.975, dof)
    return ExpFit(model="single" if n_components == 1 else "double",
                  amplitudes=amps.tolist(), amplitudes_stderr=amps_err.tolist(),
                  taus_ps=taus.tolist(), taus_stderr_ps=taus_err.tolist(),
                  taus_ci95_ps=[(float(a - tq * e), float(a + tq * e)) for a, e in zip(taus, taus_err,
                                                                                        strict=True)],
                  offset=float(off), chi2_reduced=chi2_red, n_points=n_points)


# ---------------------------------------------------------------- model fit to a measured ΔT(t)
@dataclass(frozen=True)
class AugerFit:
    tau_auger_ps: float
    tau_auger_stderr_ps: float
    kelvin_per_exciton: float          # ΔT per exciton energy deposited in one NC
    kelvin_per_exciton_stderr: float
    chi2_reduced: float
    model_delta_t_k: np.ndarray


def fit_auger_heating(times_ps: np.ndarray, delta_t_k: np.ndarray, delta_t_stderr: np.ndarray | None,
                      mean_excitons: float, tau_guess_ps: float = 600.0) -> AugerFit:
    """Fit τ_AR and the energy scale (K per exciton) of the Auger-heating model to ΔT(t).

    ⟨N⟩ is held fixed (from fluence and cross-section); the model is the exact master
    equation, so the fit is deterministic. Points before time zero are modelled as zero.
    """
    t, y = np.asarray(times_ps, float), np.asarray(delta_t_k, float)
    sigma = None if delta_t_stderr is None else np.asarray(delta_t_stderr, float)
    keep = np.isfinite(y) & (True if sigma is None else np.isfinite(sigma) & (sigma > 0))
    t, y = t[keep], y[keep]
    sigma = None if sigma is None else sigma[keep]
    if t.size < 3:
        raise NclatticeError("fitting the Auger model needs at least 3 finite ΔT points.")
    order = np.argsort(t)

    def model(tt, tau, scale):
        e = np.zeros(tt.size)
        pos = tt > 0
        if pos.any():
            srt = np.sort(np.unique(tt[pos]))
            energy, _ = auger_master_equation(mean_excitons, tau, srt)
            e[pos] = np.interp(tt[pos], srt, energy)
        return scale * e

    scale0 = max(np.nanmax(y), 1e-6) / max(auger_final_energy(mean_excitons), 1e-6)
    try:
        par, cov = scipy.optimize.curve_fit(model, t[order], y[order], p0=[tau_guess_ps, scale0],
                                      sigma=None if sigma is None else sigma[order],
                                      absolute_sigma=sigma is not None, bounds=([1e-3, 0], np.inf))
    except (RuntimeError, ValueError) as exc:
        raise NclatticeError(f"the Auger-heating fit did not converge ({exc}).") from exc
    resid = (y[order] - model(t[order], *par)) / (1.0 if sigma is None else sigma[order])
    err = np.sqrt(np.clip(np.diag(cov), 0, None))
    return AugerFit(float(par[0]), float(err[0]), float(par[1]), float(err[1]),
                    float(resid @ resid / max(t.size - 2, 1)), model(np.asarray(times_ps, float), *par))

