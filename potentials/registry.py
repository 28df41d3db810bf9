"""Named interatomic parameter sets kept as data files, and the loader that turns a set plus
a structure into LAMMPS commands with a consistent type map.

A set is a YAML file (``potentials/data/<name>.yaml`` for shipped sets, or any path for
a user's own) with: ``name``, ``form``, ``units`` (``metal``: eV, Å), ``elements``,
``citation``, ``doi``, optionally ``default`` (false: never picked by composition) and
``validation`` ({status, ...}: how the set compares with measured data), and form data:

- ``sw``, ``vashishta``: ``file``, a LAMMPS many-body file beside the YAML
  (``pair_style sw|vashishta`` with one ``pair_coeff * * file elements`` line).
- ``lammps`` (any LAMMPS pair style, e.g. tersoff or snap): ``pair_style`` (the full
  style line after the keyword), ``files`` (beside the YAML, hashed), ``pair_coeff`` (a list of
  lines after the keyword); in those lines ``{dir}`` is the YAML's folder, ``{elements}`` the
  element names in LAMMPS type order and ``{El}`` the type number of element El. ``charges``
  is optional (then atoms carry them and the style must include its own Coulomb term).
  ``commands`` (optional): further LAMMPS lines after the pair_coeff lines, e.g. the
  ``comm_modify cutoff`` that pair_style bop requires.
- ``lj-coulomb``: ``charges`` {el: e}, ``lj`` {el: {epsilon_ev, sigma_angstrom}} mixed
  Lorentz-Berthelot unless ``pairs`` ["A-B": {...}] overrides, ``cutoff_angstrom``.
- ``buckingham-coulomb``: ``charges``, ``pairs`` {"A-B": {a_ev, rho_angstrom, c_ev_angstrom6}},
  ``cutoff_angstrom``.

Coulomb of the charged forms (``coulomb_route`` chooses, automatically; ``lammps_boundary``
gives the LAMMPS boundary that goes with it):
- fully periodic: PPPM (relative accuracy 1e-5), real-space cut-off ``coulomb.cutoff_angstrom``;
- sheets periodic along x and y: PPPM with the slab correction (Yeh and Berkowitz, J. Chem.
  Phys. 111, 3155 (1999); boundary p p f, ``kspace_modify slab 3.0``);
- free crystals of at most ``EXACT_COULOMB_MAX_ATOMS`` atoms: the exact direct sum, a plain
  Coulomb cut-off longer than the largest interatomic distance (forces equal the numpy direct
  sum to 1e-14; up to this size it is also the fastest route, benchmarks/bench_coulomb.py);
- chains and larger free crystals: PPPM in a periodic box whose vacuum gap (twice the
  structure's vacuum margin, 20 Å in MD) separates the images; the force error against the
  exact sum is measured in tests/test_coulomb.py and benchmarks/bench_coulomb.py. Damped
  shifted force (Fennell and Gezelter, J. Chem. Phys. 124, 234104 (2006)) was measured and not
  adopted: with the usual 0.2 Å⁻¹ / 15 Å its force error on a 3 nm PbSe dot in vacuum is 50 %
  (there is no screening medium), and 2-9 % at 0.05 Å⁻¹ / 25 Å, growing with size.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import NclatticeError

DATA_DIR = Path(__file__).resolve().parent / "data"
FORMS = ("sw", "vashishta", "lammps", "lj-coulomb", "buckingham-coulomb")
MANYBODY_FORMS = ("sw", "vashishta")
CHARGED_PAIR_FORMS = ("lj-coulomb", "buckingham-coulomb")
EXACT_COULOMB_MAX_ATOMS = 5000
EXACT_MARGIN_ANGSTROM = 5.0  # beyond the largest interatomic distance, for thermal motion



def lammps_word(text: str) -> str:
    """``text`` as one word of a LAMMPS command: quoted when it holds whitespace (LAMMPS splits
    words at spaces, so a checkout or output folder named "run dir" would break the command)."""
    if not any(c.isspace() for c in text):
        return text
    return f'"""{text}"""' if '"' in text else f'"{text}"'


def _format_words(line: str, fields: dict[str, str]) -> str:
    """Fill ``{dir}``, ``{elements}`` and element fields word by word; a filled word that holds
    whitespace (a path) is quoted, except ``{elements}``, which stands for several words."""
    return " ".join(word.format(**fields) if "{elements}" in word else lammps_word(word.format(**fields))
                    for word in line.split())

class PotentialError(NclatticeError):
    """A parameter set is missing, malformed, or does not cover a structure."""


Periodicity = bool | tuple[bool, bool, bool] | list[bool]


def _axes(periodic: Periodicity) -> tuple[bool, bool, bool]:
    if isinstance(periodic, bool):
        return (periodic,) * 3
    return tuple(bool(p) for p in periodic)  # type: ignore[return-value]


def coulomb_route(periodic: Periodicity, n_atoms: int | None) -> str:
    """'pppm' (fully periodic), 'pppm-slab' (periodic along x and y), 'exact' (free crystal of
    at most EXACT_COULOMB_MAX_ATOMS atoms) or 'pppm-vacuum' (chains and larger free crystals)."""
    axes = _axes(periodic)
    if all(axes):
        return "pppm"
    if axes == (True, True, False):
        return "pppm-slab"
    if not any(axes) and n_atoms is not None and n_atoms <= EXACT_COULOMB_MAX_ATOMS:
        return "exact"
    return "pppm-vacuum"


def lammps_boundary(potential: PotentialSet, periodic: Periodicity, n_atoms: int | None,
                    free_boundary: str = "s") -> str:
    """The LAMMPS boundary line for a set and a system: the Coulomb route of charged sets needs
    a periodic vacuum box (chains, large free crystals) or a fixed z (sheets, slab correction)."""
    axes = _axes(periodic)
    if potential.form in CHARGED_PAIR_FORMS:
        route = coulomb_route(axes, n_atoms)
        if route == "pppm-vacuum":
            return "p p p"
        if route == "pppm-slab":
            return "p p f"
    return " ".join("p" if p else free_boundary for p in axes)


@dataclass(frozen=True)
class PotentialSet:
    name: str
    form: str
    elements: tuple[str, ...]
    citation: str
    doi: str
    path: Path
    data: dict[str, Any] = field(repr=False)
    sha256: str = ""

    @property
    def charged(self) -> bool:
        """Whether atoms carry charges (atom_style charge)."""
        return self.form in CHARGED_PAIR_FORMS or (self.form == "lammps" and "charges" in self.data)

    @property
    def validation(self) -> dict[str, Any]:
        """How the set compares with measured data ({'status': ...}); 'not validated' if absent."""
        return dict(self.data.get("validation") or {"status": "not validated"})

    def charges(self) -> dict[str, float]:
        return {el: float(q) for el, q in self.data.get("charges", {}).items()}

    def record(self) -> dict[str, Any]:
        """What provenance stores about the set."""
        return {"name": self.name, "form": self.form, "citation": self.citation, "doi": self.doi,
                "sha256": self.sha256, "path": str(self.path), "validation": self.validation}

    def file_dir(self) -> Path:
        """The folder LAMMPS reads this set's files from: the set's own folder, or, when its path
        holds whitespace or non-ASCII characters (LAMMPS cannot open such paths), a copy of the
        files in ``<tmp>/nclattice-potentials/<sha256>/``, keyed by their content."""
        here = self.path.parent
        if str(here).isascii() and not any(c.isspace() for c in str(here)):
            return here
        safe = Path(tempfile.gettempdir()) / "nclattice-potentials" / self.sha256[:16]
        if not (str(safe).isascii() and not any(c.isspace() for c in str(safe))):
            raise PotentialError(f"LAMMPS cannot open files under '{here}' (spaces or non-ASCII characters) "
                                 "and the temporary folder has such a name too: set TMPDIR to a plain path.")
        safe.mkdir(parents=True, exist_ok=True)
        for name in [self.data.get("file")] if self.form in MANYBODY_FORMS else self.data.get("files", []):
            target = safe / str(name)
            if not target.exists():
                partial = target.with_name(f".{target.name}.{os.getpid()}")
                shutil.copyfile(here / str(name), partial)
                os.replace(partial, target)
        return safe

    def summary_line(self) -> str:
        """One line naming the set, its citation and validation status (printed by commands)."""
        return (f"potential {self.name} ({self.form}, {'/'.join(self.elements)}): {self.citation} "
                f"[validation: {self.validation.get('status')}]")

    def check_covers(self, symbols: list[str] | set[str]) -> None:
        missing = sorted(set(symbols) - set(self.elements))
        if missing:
            raise PotentialError(
                f"potential '{self.name}' has no parameters for {', '.join(missing)}; "
                f"it covers {', '.join(self.elements)} (pass --potential with another set or a YAML file)."
            )

    def lammps_commands(self, type_order: list[str], periodic: Periodicity,
                        n_atoms: int | None = None, span_angstrom: float | None = None) -> list[str]:
        """pair_style/pair_coeff (and kspace) commands for atom types numbered in ``type_order``.

        ``periodic`` is one flag or one per axis; ``n_atoms`` and ``span_angstrom`` (the largest
        interatomic distance, or an upper bound) choose the Coulomb route of free crystals.
        """
        self.check_covers(type_order)
        if self.form in MANYBODY_FORMS:
            return [f"pair_style {self.form}",
                    f"pair_coeff * * {lammps_word(str(self.file_dir() / self.data['file']))} {' '.join(type_order)}"]
        if self.form == "lammps":
            return self._generic_commands(type_order)
        route = coulomb_route(periodic, n_atoms)
        if route == "exact" and span_angstrom is None:
            raise PotentialError(f"the exact Coulomb sum of '{self.name}' needs the crystal's extent.")
        return self._charged_pair_commands(type_order, route, n_atoms, span_angstrom)

    def _generic_commands(self, type_order: list[str]) -> list[str]:
        fields = {"dir": str(self.file_dir()), "elements": " ".join(type_order),
                  **{el: str(i) for i, el in enumerate(type_order, start=1)}}
        try:
            return [f"pair_style {self.data['pair_style']}"] + [
                f"pair_coeff {_format_words(str(line), fields)}" for line in self.data["pair_coeff"]] + [
                str(line) for line in self.data.get("commands", [])]
        except (KeyError, IndexError) as exc:
            raise PotentialError(
                f"pair_coeff line of '{self.name}' names {exc}, which is neither {{dir}}, {{elements}} "
                f"nor an element of the structure ({', '.join(type_order)}).") from None

    def _charged_pair_commands(self, type_order: list[str], route: str, n_atoms: int | None,
                               span_angstrom: float | None) -> list[str]:
        cut = float(self.data["cutoff_angstrom"])
        coul_cut = float(self.data.get("coulomb", {}).get("cutoff_angstrom", cut))
        short = "lj/cut" if self.form == "lj-coulomb" else "buck"
        pairs = [(i, j, a, b) for i, a in enumerate(type_order, start=1)
                 for j, b in enumerate(type_order, start=1) if j >= i]
        if route.startswith("pppm"):
            cmds = [f"pair_style {short}/coul/long {cut} {coul_cut}", "kspace_style pppm 1.0e-5"]
            if route == "pppm-slab":
                cmds.append("kspace_modify slab 3.0")
        else:  # exact direct sum: every pair inside the Coulomb cut-off
            exact_cut = float(span_angstrom) + EXACT_MARGIN_ANGSTROM
            one = int(n_atoms or 0) + 100
            cmds = [f"pair_style {short}/coul/cut {cut} {exact_cut:.6g}",
                    f"neigh_modify one {max(one, 2000)} page {max(10 * one, 100000)}"]
        return cmds + [f"pair_coeff {i} {j} {self._pair_args(a, b)}" for i, j, a, b in pairs]

    def _pair_args(self, a: str, b: str) -> str:
        pairs = self.data.get("pairs", {})
        explicit = pairs.get(f"{a}-{b}") or pairs.get(f"{b}-{a}")
        if self.form == "buckingham-coulomb":
            if explicit is None:
                return "0.0 1.0 0.0"  # no short-range term given for this pair: Coulomb only
            return f"{explicit['a_ev']} {explicit['rho_angstrom']} {explicit['c_ev_angstrom6']}"
        if explicit is not None:
            return f"{explicit['epsilon_ev']} {explicit['sigma_angstrom']}"
        la, lb = self.data["lj"][a], self.data["lj"][b]
        eps = (float(la["epsilon_ev"]) * float(lb["epsilon_ev"])) ** 0.5
        sigma = (float(la["sigma_angstrom"]) + float(lb["sigma_angstrom"])) / 2
        return f"{eps:.10g} {sigma:.10g}"


def available() -> list[str]:
    return sorted(p.stem for p in DATA_DIR.glob("*.yaml"))


def _sha256(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()


def _read_yaml(name_or_path: str | Path) -> tuple[Path, dict]:
    path = Path(name_or_path)
    if path.suffix.lower() not in (".yaml", ".yml"):
        path = DATA_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise PotentialError(
                f"no potential named '{name_or_path}'; shipped: {', '.join(available())}, "
                "or give the path of a YAML parameter file."
            )
    elif not path.exists():
        raise PotentialError(f"potential file '{path}' does not exist.")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise PotentialError(f"potential file '{path}' is not valid YAML ({exc.__class__.__name__}).") from None
    if not isinstance(data, dict):
        raise PotentialError(f"potential file '{path}' must hold a mapping of fields.")
    return path, data


def _form_files(path: Path, data: dict) -> list[Path]:
    """Check the form-specific fields; return the files (beside the YAML) the set depends on."""
    form, name = data["form"], data["name"]
    if form in MANYBODY_FORMS:
        names = [str(data.get("file", ""))]
    elif form == "lammps":
        if "pair_style" not in data or not isinstance(data.get("pair_coeff"), list):
            raise PotentialError(f"potential '{name}' (lammps) needs 'pair_style' and a list 'pair_coeff'.")
        if not isinstance(data.get("commands", []), list):
            raise PotentialError(f"potential '{name}' (lammps): 'commands' must be a list of LAMMPS lines.")
        names = [str(f) for f in data.get("files", [])]
    else:
        if "charges" not in data or "cutoff_angstrom" not in data:
            raise PotentialError(f"potential '{name}' ({form}) needs 'charges' and 'cutoff_angstrom'.")
        if form == "lj-coulomb" and "lj" not in data and "pairs" not in data:
            raise PotentialError(f"potential '{name}' (lj-coulomb) needs 'lj' or 'pairs' parameters.")
        names = []
    files = [path.parent / n for n in names]
    for f in files:
        if not f.is_file():
            raise PotentialError(f"parameter file '{f}' named by '{path.name}' does not exist.")
    return files


def load(name_or_path: str | Path) -> PotentialSet:
    """Load a shipped set by name or a user's YAML file by path, validating its fields."""
    path, data = _read_yaml(name_or_path)
    for key in ("name", "form", "elements", "citation", "doi"):
        if key not in data:
            raise PotentialError(f"potential file '{path}' lacks the required field '{key}'.")
    if data["form"] not in FORMS:
        raise PotentialError(f"potential form '{data['form']}' in '{path}' is not one of {', '.join(FORMS)}.")
    if data.get("units", "metal") != "metal":
        raise PotentialError(f"potential '{data['name']}' must use LAMMPS metal units (eV, Å).")
    files = [path, *_form_files(path, data)]
    return PotentialSet(name=str(data["name"]), form=data["form"], elements=tuple(data["elements"]),
                        citation=" ".join(str(data["citation"]).split()), doi=str(data["doi"]),
                        path=path.resolve(), data=data, sha256=_sha256(files))


def default_for(symbols: list[str] | set[str]) -> PotentialSet:
    """The shipped default set with the fewest elements that covers all of ``symbols``."""
    wanted = set(symbols)
    candidates = [pot for pot in map(load, available())
                  if pot.data.get("default", True) and wanted <= set(pot.elements)]
    if candidates:
        return min(candidates, key=lambda p: (len(p.elements), p.name))
    raise PotentialError(
        f"no shipped potential covers {', '.join(sorted(wanted))}; "
        "pass --potential with a YAML parameter file of your own (see potentials/registry.py)."
    )


def covering(symbols: list[str] | set[str]) -> tuple[list[PotentialSet], dict[str, str]]:
    """Every shipped set that covers all of ``symbols`` (the default set first, then by name), and
    for each shipped set that does not, why (the elements it lacks)."""
    wanted = set(symbols)
    sets, skipped = [], {}
    for pot in map(load, available()):
        missing = sorted(wanted - set(pot.elements))
        if missing:
            skipped[pot.name] = f"no parameters for {', '.join(missing)} (covers {', '.join(pot.elements)})"
        else:
            sets.append(pot)
    if not sets:
        raise PotentialError(f"no shipped potential covers {', '.join(sorted(wanted))}; "
                             "pass --potential with a YAML parameter file of your own (see potentials/registry.py).")
    first = default_for(wanted).name if any(p.data.get("default", True) for p in sets) else sets[0].name
    return sorted(sets, key=lambda p: (p.name != first, p.name)), skipped


def table() -> list[dict[str, str]]:
    """One row per shipped set: name, form, elements, default, citation, validation status."""
    rows = []
    for pot in map(load, available()):
        rows.append({"name": pot.name, "form": pot.form, "elements": " ".join(pot.elements),
                     "default": "yes" if pot.data.get("default", True) else "no",
                     "citation": pot.citation, "validation": str(pot.validation.get("status"))})
    return rows
