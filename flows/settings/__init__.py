"""Settings of every capability, each option declared once (type, default, unit, range, help).

A settings model is what a flow takes; the command line generates its options from the same
model (`nclattice.cli.options`) and a campaign validates its ``with:`` blocks straight into it.
Field names carry units (``temperature_k``); the alias is the option name users type
(``--temperature`` on the command line, ``temperature:`` in a campaign). Values are checked
here (finite, in range, consistent with each other) before any work starts.

One module per capability family (md, spin, diffraction, ued, ued_images, kinetics, build) on the parsing
base (base.py); everything is importable from here (``from nclattice.flows.settings import X``).
A new capability's model goes in its family's module (or a new one) and one line below. The
package imports pydantic, the standard library and tasks/beams.py (constants); the recipe logic
of ``BuildSettings`` lives in structures/recipes.py, imported when a recipe is checked.
"""

from .base import MAX_SEED, Settings, SettingsError, opt
from .build import MAX_BUILD_ATOMS, BuildSettings
from .diffraction import DiffractSettings, PolaronDiffractionSettings, ProbeOptions
from .kinetics import AugerSettings, OccupationSettings, OpticalOptions, StateFillingSettings, TrappingSettings
from .md import (
    ANNEAL_DEFAULT_K,
    ANNEAL_DEFAULT_PS,
    TEMPERATURE_RANGE_K,
    THERMOSTATS,
    AnnealOptions,
    CalibrationSettings,
    DeltaTSettings,
    MDOptions,
    PhononSettings,
)
from .spin import SpinRelaxSettings
from .ued import CalibrationInput, DisorderTest, ProfileOptions, UedDecomposeSettings, UedProfilesSettings, UedSettings
from .ued_images import UedImagesSettings

__all__ = [
    "ANNEAL_DEFAULT_K", "ANNEAL_DEFAULT_PS", "MAX_BUILD_ATOMS", "MAX_SEED",
    "TEMPERATURE_RANGE_K", "THERMOSTATS", "AnnealOptions", "AugerSettings",
    "BuildSettings", "CalibrationInput", "CalibrationSettings", "DeltaTSettings", "DiffractSettings", "DisorderTest",
    "MDOptions", "OccupationSettings", "OpticalOptions", "PhononSettings", "PolaronDiffractionSettings",
    "ProbeOptions", "ProfileOptions", "Settings", "SettingsError", "SpinRelaxSettings", "StateFillingSettings",
    "TrappingSettings", "UedDecomposeSettings", "UedImagesSettings", "UedProfilesSettings", "UedSettings", "opt",
]
