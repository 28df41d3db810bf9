"""Named interatomic parameter sets kept as data files, and the loader that turns a set plus
a structure into LAMMPS commands with a consistent type map.

A set is a YAML file (``potentials/data/<name>.yaml`` for shipped sets, or any path for
a user's own) with: ``name``, ``form`` (``sw``, ``lj-coulomb`` or ``buckingham-coulomb``),
``units`` (``metal``: eV, Å), ``elements``, ``citation``, ``doi`` and form-specific data:

- ``sw``: ``file``, a LAMMPS Stillinger-Weber file beside the YAML.
- ``lj-coulomb``: ``charges`` {el: e}, ``lj`` {el: {epsilon_ev, sigma_angstrom}} mixed
  Lorentz-Berthelot unless ``pairs`` ["A-B": {...}] overrides, ``cutoff_angstrom``.
- ``buckingham-coulomb``: ``charges``, ``pairs`` {"A-B": {a_ev, rho_angstrom, c_ev_angstrom6}},
  ``cutoff_angstrom``.
Coulomb (charged forms): ``coulomb: {cutoff_angstrom}``; periodic structures use PPPM
(long range), free nanocrystals a plain cut-off (set it beyond the crystal for the exact sum).

The SHA-256 of the YAML and of any referenced file goes into every result's provenance.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import NclatticeError

DATA_DIR = Path(__file__).resolve().parent / "data"
FORMS = ("sw", "lj-coulomb", "buckingham-coulomb")


class PotentialError(NclatticeError):
    """A parameter set is missing, malformed, or does not cover a structure."""


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
        return self.form != "sw"

    def charges(self) -> dict[str, float]:
        return {el: float(q) for el, q in self.data.get("charges", {}).items()}

    def record(self) -> dict[str, str]:
        """What provenance stores about the set."""
        return {"name": self.name, "form": self.form, "citation": self.citation, "doi": self.doi,
                "sha256": self.sha256, "path": str(self.path)}

    def check_covers(self, symbols: list[str] | set[str]) -> None:
        missing = sorted(set(symbols) - set(self.elements))
        if missing:
            raise PotentialError(
                f"potential '{self.name}' has no parameters for {', '.join(missing)}; "
                f"it covers {', '.join(self.elements)} (pass --potential with another set or a YAML file)."
            )

    def lammps_commands(self, type_order: list[str], periodic: bool) -> list[str]:
        """pair_style/pair_coeff (and kspace) commands for atom types numbered in ``type_order``."""
        self.check_covers(type_order)
        if self.form == "sw":
            sw_file = self.path.parent / self.data["file"]
            return ["pair_style sw", f"pair_coeff * * {sw_file} {' '.join(type_order)}"]
        cut = float(self.data["cutoff_angstrom"])
        coul_cut = float(self.data.get("coulomb", {}).get("cutoff_angstrom", cut))
        style = "lj/cut" if self.form == "lj-coulomb" else "buck"
        if periodic:
            cmds = [f"pair_style {style}/coul/long {cut} {coul_cut}", "kspace_style pppm 1.0e-5"]
        else:
            cmds = [f"pair_style {style}/coul/cut {cut} {coul_cut}"]
        for i, a in enumerate(type_order, start=1):
            for j, b in enumerate(type_order, start=1):
                if j < i:
                    continue
                cmds.append(f"pair_coeff {i} {j} {self._pair_args(a, b)}")
        return cmds

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


def load(name_or_path: str | Path) -> PotentialSet:
    """Load a shipped set by name or a user's YAML file by path, validating its fields."""
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
    for key in ("name", "form", "elements", "citation", "doi"):
        if key not in data:
            raise PotentialError(f"potential file '{path}' lacks the required field '{key}'.")
    if data["form"] not in FORMS:
        raise PotentialError(f"potential form '{data['form']}' in '{path}' is not one of {', '.join(FORMS)}.")
    if data.get("units", "metal") != "metal":
        raise PotentialError(f"potential '{data['name']}' must use LAMMPS metal units (eV, Å).")
    files = [path]
    if data["form"] == "sw":
        sw = path.parent / str(data.get("file", ""))
        if not sw.is_file():
            raise PotentialError(f"Stillinger-Weber file '{sw}' named by '{path.name}' does not exist.")
        files.append(sw)
    else:
        if "charges" not in data or "cutoff_angstrom" not in data:
            raise PotentialError(f"potential '{data['name']}' ({data['form']}) needs 'charges' and 'cutoff_angstrom'.")
        if data["form"] == "lj-coulomb" and "lj" not in data and "pairs" not in data:
            raise PotentialError(f"potential '{data['name']}' (lj-coulomb) needs 'lj' or 'pairs' parameters.")
    return PotentialSet(name=str(data["name"]), form=data["form"], elements=tuple(data["elements"]),
                        citation=" ".join(str(data["citation"]).split()), doi=str(data["doi"]),
                        path=path.resolve(), data=data, sha256=_sha256(files))


def default_for(symbols: list[str] | set[str]) -> PotentialSet:
    """The shipped set that covers all elements (Zhou 2013 SW for Cd/Zn/Hg/S/Se/Te)."""
    for name in available():
        pot = load(name)
        if set(symbols) <= set(pot.elements):
            return pot
    raise PotentialError(
        f"no shipped potential covers {', '.join(sorted(set(symbols)))}; "
        "pass --potential with a YAML parameter file of your own (see potentials/registry.py)."
    )
