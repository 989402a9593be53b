"""Errors by phase.

Every error alforge raises on purpose derives from :class:`AlforgeError`; its message is one
line that says what went wrong, the offending value, and the fix. The CLI prints that line
and exits non-zero instead of a traceback.
"""

from __future__ import annotations


class AlforgeError(Exception):
    """Base class of every deliberate alforge error (one-line, user-facing message)."""


class DataError(AlforgeError):
    """A structure or labelled data file is malformed (bad extxyz, missing forces, NaN, ...)."""


class SpecError(AlforgeError):
    """A campaign spec or setting is invalid."""


class DatabaseError(AlforgeError):
    """The campaign database cannot be reached, is at the wrong schema version, or is inconsistent."""


class OracleSetupError(AlforgeError):
    """An oracle cannot be built: unknown method or basis, charge and spin that do not fit, ..."""


class OracleInputError(AlforgeError):
    """A structure cannot be sent to an oracle: NaN coordinates, atoms too close, ..."""


class OracleRunError(AlforgeError):
    """A reference calculation failed while running (not converged, crashed, timed out)."""


class ModelError(AlforgeError):
    """A potential cannot be built, fitted, saved or loaded."""


class ModelInputError(ModelError):
    """Data given to a potential does not fit it (wrong composition, NaN positions, no labels)."""


class FitError(ModelError):
    """Fitting a potential failed numerically (singular kernel, NaN hyperparameters)."""


class NotAvailableError(AlforgeError):
    """A command or feature that this version does not provide yet."""
