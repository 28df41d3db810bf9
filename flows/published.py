"""Published values of the source papers and how nclattice compares with them: one place.

Each row names a published quantity, its value as the paper gives it, and the verdict of
nclattice's reproduction (agrees / differs, and why). scripts/reproduction_table.py writes
docs/reproduction.md from these rows and the committed reproduction results; a campaign report
(flows/report.py) sets a row beside every campaign item that computes the same quantity
(``Match``: the analysis, the settings that define the quantity, the structure's elements).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

CDSE_CDS = frozenset({"Cd", "Se", "S"})
CSPBBR3 = frozenset({"Cs", "Pb", "Br"})


@dataclass(frozen=True)
class Match:
    """The campaign items that compute a row's quantity, and which of their numbers stands beside it.

    ``number`` is the key of the item's outcome number (``Number.key`` in flows/outcomes.py);
    ``settings`` maps settings fields to the values the item must have; ``elements`` and ``atoms``,
    when given, are the structure's element set and atom count.
    """

    analysis: str
    number: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    elements: frozenset[str] | None = None
    atoms: int | None = None

    def accepts(self, analysis: str, settings: Any, elements: Iterable[str] | None, atoms: int | None) -> bool:
        if analysis != self.analysis:
            return False
        if self.elements is not None and (elements is None or frozenset(elements) != self.elements):
            return False
        if self.atoms is not None and atoms != self.atoms:
            return False
        return all(_same(getattr(settings, name, None), value) for name, value in self.settings.items())


def _same(ours: Any, wanted: Any) -> bool:
    if isinstance(wanted, (int, float)) and isinstance(ours, (int, float)) and not isinstance(ours, bool):
        return math.isclose(ours, wanted, rel_tol=1e-9, abs_tol=1e-12)
    return ours == wanted


VERDICT = re.compile(r"^(partly agrees|signs agree|agrees|differs)")


@dataclass(frozen=True)
class Published:
    id: str
    paper: str
    quantity: str
    published: str  # as the paper gives it
    run: str | None  # the reproduction run (RUNS / LONG_RUNS of scripts/reproduction_table.py), or None
    note: str = ""  # the reproduction's verdict and why
    command: str = ""  # for rows without a run: the command that will produce the number
    match: Match | None = None
    material: str = ""  # what was computed, where it is not the paper's crystals (MATERIAL)

    @property
    def material_name(self) -> str:
        return self.material or MATERIAL[self.paper]

    @property
    def verdict(self) -> str:
        """The note's verdict in words (agrees, partly agrees, signs agree, differs); "" where it gives none."""
        found = VERDICT.match(self.note)
        return found.group(1) if found else ""

    @property
    def reason(self) -> str:
        """The note after its verdict: why it agrees or differs."""
        rest = self.note[len(self.verdict):].lstrip(" ;:,.")
        return rest[:1].upper() + rest[1:]


def published_for(
    analysis: str, settings: Any, elements: Iterable[str] | None = None, atoms: int | None = None
) -> list[Published]:
    """The rows whose quantity a campaign item of this analysis, settings and structure computes."""
    return [row for row in ROWS if row.match and row.match.accepts(analysis, settings, elements, atoms)]


GUZELTURK = "Guzelturk et al., Nat. Commun. 12, 1860 (2021)"
YUE = "Yue et al., J. Phys. Chem. Lett. 15, 7667 (2024)"
SHEN = "Shen et al., CsPbBr3 exciton polaron (preprint)"
VONK = "Vonk et al., Nat. Commun. 16 (2025)"
MATERIAL = {GUZELTURK: "CdSe/CdS", YUE: "PbSe", SHEN: "CsPbBr3", VONK: "InP/ZnSe/ZnS"}  # each paper's crystals

TRAP_NOTE = (
    "differs in size, same direction. The paper's 4× is the pure Auger model over the measured ΔT, which "
    "its trapping model fits; here it is over nclattice's trapping model, in which every band-edge exciton "
    "traps at 1/τ_trap, leaves the Auger pool and deposits nothing (--trap-energy 0; the photon's excess "
    "energy is not counted in either model). That model's heating rises in 1.5-2.4 ps, while the "
    "measured ΔT at 340 nm rises in ≈ 20-23 ps (low-Q peaks; ΔG at 4.1 and 7.1 Å), like the Auger-only "
    "model here: so the paper's trapping equations (Supplementary Section F, not in the main text) differ "
    "from this reading. Not stated there: whether trapping removes an exciton or the whole NC from Auger, "
    "whether band-edge holes still trap (the 510 nm data say they do not), and what heat trapping deposits. "
    "A trap releasing 0.13 (τ_trap 3.5 ps) or 0.06 (6 ps) exciton energies would give 4×, with the heat "
    "still arriving within a few ps"
)


PBSE_NOTE = (
    "partly agrees: attachment lowers the <100> slopes, as measured, but lowers [111] as well (measured: "
    "higher). Reduced protocol, stated: the 6 nm dot (3,696 atoms, {100} facets 6.1 nm apart, polar {111} "
    "facets half filled) alone, and the same dot repeated along x as an infinite oriented-attached chain "
    "(3,696 atoms per cell); 90 K (the paper's base temperature), 170 and 250 K, each after a 3 ps anneal "
    "at 300 K and minimisation, 5 ps equilibration and 20 ps production (the campaign item: 5 "
    "temperatures, 20/100 ps). The slope of ⟨u_n²⟩ along a direction is the Δ⟨u_n²⟩ per kelvin of "
    "heating that the Bragg peaks of that direction see; single-dot 'individual' values average its "
    "three <100> axes. The ratios carry 3-8 % standard errors, the single dot's most: at 250 K 47 of its "
    "surface atoms (one by 1.9 Å) left their sites, against 20 in the chain, and its z slope lies 11 % "
    "above its x and y slopes, most likely from those jumps; against the x and y slopes alone the chain's "
    "[111] is still 4 % lower. At 3 nm and 300 K the same comparison gave 5 % lower along, 10 % across "
    "and 12 % lower "
    "for [111]. Suspected, not tested, for [111]: the measured dots keep ligands and attach through necks "
    "after partial ligand removal, while here the facets are bare and the contact is perfectly epitaxial. "
    "The Schapotschnikow et al. 2010 rigid-ion set gives about half the measured bulk ⟨u²⟩, so only "
    "ratios are compared"
)

SPIN_NOTE = (
    "differs by an order of magnitude, by size and method: in these small cubes every Cs sits on the "
    "surface and the triplet moves them by up to 1.6 Å, a surface-bound distortion, while the paper's "
    "exciton spreads over a 3 nm crystal whose interior holds it; GFN2-xTB, not the paper's PBE (on the "
    "11-atom cluster the two differ 2× and in the sign of the Cs move). The cubes are made neutral by "
    "Cs vacancies, like the paper's"
)


ROWS: list[Published] = [
    Published(
        "calibrate-8ml",
        GUZELTURK,
        "⟨u²⟩(T) of the 8 ML CdSe/CdS NC linear over 150-500 K",
        "linear (slope b)",
        "calibrate-8ml",
        note="agrees (linear); reduced protocol, stated: 10,901 atoms at the paper's 150-500 K in 50 K steps, "
        "each with a 3 ps anneal at 300 K, minimisation, 3 ps equilibration and 6 ps production (the "
        "campaign item: 20/100 ps); Zhou 2013 Stillinger-Weber, not the paper's pair potential. The "
        "paper's slope is in its supplement, not the main text, so only linearity is compared. The off-site "
        "atoms are all surface "
        "atoms; their jumps are included in ⟨u²⟩",
        match=Match("calibrate", "r2", elements=CDSE_CDS),
    ),
    Published(
        "auger-510nm-delta-t",
        GUZELTURK,
        "ΔT at 510 nm, 2.1 mJ cm⁻² (quasi-equilibrium)",
        "≈ 13 K",
        "auger-510nm",
        note="agrees, by the paper's own consistency check (its Auger model reproduces the measured amplitude), "
        "not by converting its data: the measured Δ⟨u²⟩ behind the 13 K is only plotted (Fig. 2b inset), so "
        "`nclattice calibrate --apply` cannot be run on it. Here ΔT = E_X ΔE / (3 N k_B): the Auger model's "
        "energy per NC at ⟨N⟩ = 21, the 10,901-atom 8 ML model NC of the calibration row, and the classical "
        "heat capacity an MD calibration samples. Assumed, not from the paper's main text: E_X = 2.0 eV (a "
        "3 nm CdSe core under a thick CdS shell has its first exciton near 600-620 nm); ΔT scales as "
        "6.9 K per eV of E_X. Not counted, as in the paper's model: the pump photon's excess energy over "
        "the gap (2.43 eV − E_X per exciton), which cooling would put in within a ps (≈ +3 K)",
        match=Match("kinetics-auger", "delta_t_end_k", {"mean_excitons": 21, "tau_auger_ps": 625}),
    ),
    Published(
        "delta-t-8ml",
        GUZELTURK,
        "ΔG(r) dips at the pair peaks, ΔT = 14 K at 300 K",
        "≈ 2.5-2.6, 4.1-4.3, 7.0-7.1 Å",
        "delta-t-8ml",
        note="agrees; reduced protocol, stated: 10,901 atoms, 5 ps equilibration and 20 ps production per "
        "temperature (the campaign item: 20/200 ps), frames every 50 fs, after a 3 ps anneal at 300 K and "
        "minimisation (both temperatures start from the same minimum; without the anneal about 265 surface "
        "atoms left their sites at each temperature, with it 88/95, all on the surface); Zhou 2013 "
        "Stillinger-Weber, not the paper's pair potential; electron weights. The F(Q) route's curves are in "
        "delta_g_fq.csv",
        match=Match("delta-t", "dips", {"t0_k": 300, "delta_t_k": 14}, elements=CDSE_CDS),
    ),
    Published(
        "phonons-4ml",
        GUZELTURK,
        "phonon lifetimes of the 4 ML NC at 300 K",
        "mostly < 1 ps; < 0.5 THz modes ~10 ps",
        "phonons-4ml",
        note="partly agrees. Reduced protocol, stated: 3,401 atoms, all 10,203 modes (dense Hessian), 10 ps "
        "Langevin then 40 ps NVE, 20 ps correlation window (the campaign item: 20/100/40 ps); lifetimes from "
        "the Langevin friction kernel by a numerical Laplace transform, as in the paper. The slowest modes "
        "(< 0.5 THz) come out near 10 ps as published, but as lower bounds (longer than a third of the "
        "window). Most modes are not below 1 ps here (median 3-4 ps, 12 % below 1 ps). First suspect, not "
        "tested: the potential (Zhou 2013 Stillinger-Weber here, the paper's CdSe/CdS pair potential there) "
        "and its anharmonicity. 115 surface atoms (no anneal before the minimisation) left their sites "
        "during the MD",
        match=Match("phonons", "fraction_below_1ps", {"temperature_k": 300}, elements=CDSE_CDS),
    ),
    *[Published(
        f"phonons-cdse2nm-{short}",
        GUZELTURK,
        f"phonon lifetimes of a 2 nm CdSe core (141 atoms) at 300 K, {label}",
        "mostly < 1 ps (4 ML CdSe/CdS NC)",
        f"phonons-cdse2nm-{short}",
        note=note,
        material="CdSe (core only)",
    ) for short, label, note in (
        ("sw", "Zhou 2013 Stillinger-Weber",
         "differs, as the 4 ML row: the same protocol with three force fields, to test whether the lifetime gap "
         "of the 4 ML row is the potential: a CdSe core only, 2 nm (Cd71Se70), as cut and minimised (no "
         "anneal), 10 ps Langevin then 40 ps NVE at 1 fs, 20 ps correlation window, all 423 modes. With this "
         "set the core alone gives 3-4 ps too, so the long lifetimes come with the set, not with the shell or "
         "the size. 11 surface atoms (largest 0.74 Å) left their sites during the MD. Started instead from "
         "each set's annealed minimum (20 ps Langevin at 300 K, then minimised, as calibrate --anneal-k does; "
         "phonons has no anneal option yet), the medians are SW 5.25 ps (7 % < 1 ps, 4 atoms off their "
         "sites), BOP 1.09 ps (46 %, 21 atoms), LJ + Coulomb 0.20 ps (88 %, 58 atoms): the same ordering and "
         "the same ≈ 5× between SW and BOP"),
        ("bop", "Zhou 2014 Cd-Te-Se bond-order potential",
         "agrees in size (most modes below 1 ps), same protocol: a set that keeps bulk wurtzite a, c and B "
         "within 4 % (docs/potentials.md) gives lifetimes 5× shorter than Stillinger-Weber, so the gap of the "
         "4 ML row is the potential's anharmonicity. Caveat: 37 surface atoms (largest 1.79 Å) left their "
         "sites during the MD, and such jumps also shorten the lifetimes of the modes they take part in"),
        ("lj", "Cosseddu-Infante 2017 LJ + Coulomb (±0.9768 e)",
         "differs: not a lifetime. Same protocol, but 100 of the 141 atoms, interior ones too, left their "
         "sites (up to 3.9 Å): at 300 K the 2 nm dot does not keep the structure its modes were computed at, "
         "so these numbers mostly measure that drift. The set was fitted to a ligand-capped Cd68Se55 cluster "
         "and is soft in bulk (B ×0.63, docs/potentials.md)"),
    )],
    Published(
        "auger-510nm-rise",
        GUZELTURK,
        "Auger heating rise time, ⟨N⟩ = 21, τ_AR = 625 ps",
        "≈ 200 ps",
        "auger-510nm",
        note="differs 2×, not a bug: nclattice implements the paper's stated model (Auger events at "
        "N(N−1)/2τ_AR with τ_AR the biexciton lifetime, one exciton's energy to the lattice per event, "
        "Poisson ⟨N⟩; the Gillespie ensemble equals the exact master equation). The ≈ 200 ps is the "
        "paper's single-exponential fit of the measured ΔT(t), which it says this model reproduces; "
        "at ⟨N⟩ = 21 the model cannot rise that slowly: its 63 % rise time needs no fit window and lies "
        "near the deterministic 2(e − 1)τ_AR/⟨N⟩ = 102 ps, and fits over 0.5-3 ns windows give 75-107 ps. "
        "Its 63 % rise is 180 ps at ⟨N⟩ = 10 (1 mJ cm⁻²); at ⟨N⟩ = 21 the rise scales with τ_AR, so "
        "200 ps would need τ_AR ≈ 1.3 ns, twice the measured biexciton lifetime. The paper's equations (its "
        "Supplementary Section F) are not in the main text; counting the photon's excess energy as "
        "prompt heat would shorten the rise, not lengthen it",
        match=Match("kinetics-auger", "time_constant", {"mean_excitons": 21, "tau_auger_ps": 625}),
    ),
    Published(
        "trapping-340nm-3.5ps",
        GUZELTURK,
        "340 nm: pure Auger model over hot-hole trapping, ΔT amplitude",
        "≈ 4×",
        "trapping-340nm-3.5ps",
        note=TRAP_NOTE,
        match=Match(
            "kinetics-trapping", "suppression", {"mean_excitons": 100, "tau_auger_ps": 625, "tau_trap_ps": 3.5}
        ),
    ),
    Published(
        "trapping-340nm-6ps",
        GUZELTURK,
        "340 nm: pure Auger model over hot-hole trapping, ΔT amplitude",
        "≈ 4×",
        "trapping-340nm-6ps",
        note="differs in size, same direction, as the row above: the paper's upper τ_trap, same model and caveats",
        match=Match("kinetics-trapping", "suppression", {"mean_excitons": 100, "tau_auger_ps": 625, "tau_trap_ps": 6}),
    ),
    Published(
        "disorder-time-constants",
        GUZELTURK,
        "localized disorder time constants (ΔG ratio; Q6 − Q3)",
        "≈ 3.5 ps; ≈ 6 ps",
        None,
        note="needs the measured UED series; the shipped series are synthetic",
        command="nclattice ued analyze <measured data> --disorder-peaks Q6 Q3",
    ),
    Published(
        "pbse-6nm-chain",
        YUE,
        "⟨Δu²⟩ along <100> / <111>, attached vs individual",
        "attached: lower <100>, higher <111>",
        "pbse-6nm-chain",
        note=PBSE_NOTE,
    ),
    Published(
        "spin-pbe-cs200pb125br450",
        SHEN,
        "singlet → triplet relaxation energy, Cs200Pb125Br450 (5 vacancy models)",
        "56 meV (mean)",
        None,
        note="not run here: five 775-atom PBE/DZVP relaxations in two spin states. On this 2-core, 24 GB machine "
        "a 64-atom CsPbBr3 singlet at DZVP needed 16 GB, and the 11-atom Cs4PbBr6 took 99 min for both "
        "states: a cluster's job. The rows below give the same quantity at the xTB level for the clusters "
        "that fit here",
        command="nclattice campaign examples/papers/cspbbr3.yaml (writes the CP2K inputs; run them with CP2K)",
    ),
    Published(
        "gap-cs200pb125br450",
        SHEN,
        "gap of the relaxed states",
        "2.479 eV",
        None,
        note="as the row above: needs the 775-atom PBE relaxations",
        command="nclattice campaign examples/papers/cspbbr3.yaml (CP2K)",
    ),
    Published(
        "spin-cp2k-cs4pbbr6",
        SHEN,
        "singlet → triplet relaxation energy at the paper's level, 11 atoms",
        "56 meV (Cs200Pb125Br450, PBE)",
        "spin-cp2k-cs4pbbr6",
        note="differs by size: the neutral Cs4PbBr6 cluster (one octahedron with four Cs) is the largest PBE "
        "relaxation of both states run here. PBE localises the triplet on one Br-Pb-Br axis: the two trans "
        "Br move out by 1.65 Å, the other four Br and the Cs move in (0.16 and 0.22 Å). Defaults: 5 Å "
        "vacuum, DZVP-MOLOPT-SR-GTH, GTH-PBE, UKS, fmax 0.05 eV/Å. The wall time includes a stop and "
        "resume from the checkpoints",
        match=Match("spin-relax", "relaxation_energy", {"backend": "cp2k"}, elements=CSPBBR3, atoms=11),
        material="Cs4PbBr6 cluster (for CsPbBr3)",
    ),
    Published(
        "spin-xtb-cs4pbbr6",
        SHEN,
        "singlet → triplet relaxation energy at the xTB level, 11 atoms",
        "56 meV (Cs200Pb125Br450, PBE)",
        "spin-xtb-cs4pbbr6",
        note="differs by size and method: on the same cluster GFN2-xTB relaxes half as much as PBE (row above) "
        "and keeps the octahedron symmetric (all six Br in by 0.05 Å, the Cs out by 0.65 Å): the two "
        "methods disagree on the sign of the Cs and axial Br displacements",
        match=Match("spin-relax", "relaxation_energy", {"backend": "xtb"}, elements=CSPBBR3, atoms=11),
        material="Cs4PbBr6 cluster (for CsPbBr3)",
    ),
    Published(
        "spin-xtb-cs20pb8br36",
        SHEN,
        "singlet → triplet relaxation energy at the xTB level, 64 atoms",
        "56 meV (Cs200Pb125Br450, PBE)",
        "spin-xtb-cs20pb8br36",
        note=SPIN_NOTE,
        match=Match("spin-relax", "relaxation_energy", {"backend": "xtb"}, elements=CSPBBR3, atoms=64),
    ),
    Published(
        "random-hole-surface",
        SHEN,
        "(200) / (110) peak shifts, surface-biased random hole, 120 crystals 3-15 nm",
        "(200) inward, (110) outward",
        "random-hole-surface",
        note="signs agree (default restoring constants, Br weaker than Cs and Pb)",
        match=Match("polaron-diffraction", "peak_shifts", {"model": "random-hole", "hole_bias": "surface"}),
    ),
    Published(
        "random-hole-centre",
        SHEN,
        "(110) shift, centrally localized hole",
        "never outward",
        "random-hole-centre",
        note="agrees for the default restoring constants; the paper scans them, this is one choice",
        match=Match("polaron-diffraction", "peak_shifts", {"model": "random-hole", "hole_bias": "center"}),
    ),
    Published(
        "occupation",
        SHEN,
        "occupation after the pulse, γ0·t = 1, γ1 = 0.4 γ0",
        "P0/P1/P2 = 0.368/0.504/0.128; mean 0.760",
        "occupation",
        note="agrees",
        match=Match("kinetics-occupation", "occupation", {"gamma0_t": 1, "gamma_ratio": 0.4}),
    ),
    Published(
        "state-filling-no-trapping",
        VONK,
        "state filling at n̄ = 7.1 without trapping",
        "n̄_eff = n̄; gain → A0",
        "state-filling-no-trapping",
        note="the no-trapping reference",
        match=Match("kinetics-state-filling", "n_eff", {"mean_excitations": 7.1, "p_trap": 0}),
    ),
    Published(
        "state-filling-ptrap-0.15",
        VONK,
        "state filling at n̄ = 7.1, P_trap = 0.15 (simple model)",
        "n̄_eff ≈ 1.5; gain saturates at 0.25 A0",
        "state-filling-ptrap-0.15",
        note="differs; the published numbers are measurements (Figs. 1e, 5d), which the paper's simple model "
        "only 'qualitatively' matches at P_trap ≈ 15 %. nclattice implements its stated rules: P_cool(n) = "
        "(1 − P_trap)^n per excitation (85 % and 61 % for n = 1 and 3, as in the paper), a QD with a trapped "
        "carrier adds no band-edge bleach, g_e = 2, g_h = 4, Poisson n̄. With them n̄_eff = 1.5 at n̄ = 7.1 "
        "needs P_trap = 0.097 (--p-trap 0.097), within the 7.5-10.5 % the paper measures by pump-push-probe. "
        "The simple model has no Stokes shift, so gain needs more than half-inverted QDs on average; the "
        "paper reproduces the 0.25 A0 gain only with the adapted model (next row)",
        match=Match("kinetics-state-filling", "n_eff", {"mean_excitations": 7.1, "p_trap": 0.15}),
    ),
    Published(
        "state-filling-refined",
        VONK,
        "refined model (30 % oscillator strength kept, 70 meV Stokes shift, P̄_trap ≈ 27 %)",
        "n̄_eff ≈ 1.5; gain saturates at 0.25 A0",
        "state-filling-refined",
        note="differs for want of one number. With every QD trapping (as here), bleach and gain fall as "
        "e^{−P n̄} at high n̄: the gain peaks at 0.24 A0 near n̄ = 3 and drops to 0.14 A0 at n̄ = 7.1, "
        "where the measured bleach and gain saturate instead. The paper's adapted model also has 'a fraction "
        "of QDs without trapping', which makes the curves saturate, but the main text does not give its "
        "value; this row has none. At the same mean P̄_trap = 0.27, an untrapped fraction of 0.4 "
        "(--untrapped-fraction 0.4 --p-trap 0.45) gives n̄_eff = 1.46 and gain 0.38 A0 at n̄ = 7.1. Also "
        "chosen here, not given in the main text: Gaussian lines of 0.1 eV FWHM (wider lines give less "
        "gain), emission x̄/2 against absorption 1 − x̄/2 of the band-edge filling x̄, and a QD with a "
        "trapped carrier keeping 30 % of a one-pair bleach and emission",
        match=Match(
            "kinetics-state-filling",
            "n_eff",
            {"mean_excitations": 7.1, "p_trap": 0.27, "trap_oscillator_strength": 0.3, "stokes_shift_ev": 0.07},
        ),
    ),
]
