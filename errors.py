"""Exceptions whose message is one sentence a user can act on."""


class NclatticeError(ValueError):
    """Bad input or an impossible request; the message says what is wrong and how to fix it."""


class StructureError(NclatticeError):
    """A nanocrystal cannot be built or does not pass validation."""
