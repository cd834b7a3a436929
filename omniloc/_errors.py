"""Error types shared by the whole package."""

from __future__ import annotations

from os import PathLike

__all__ = ["DataError", "ConfigError", "Interrupted"]


class DataError(ValueError):
    """Invalid input data.

    Every message names where the problem is (file, when there is one), which field is
    wrong and what was expected, so that a user can fix the input without reading code.

    Parameters
    ----------
    message : str
        What is wrong and what was expected.
    file : str or PathLike, optional
        The file that holds the bad data.
    field : str, optional
        The field (column, HDF5 dataset, JSON key) that holds the bad data.
    """

    def __init__(self, message: str, *, file: str | PathLike | None = None, field: str | None = None):
        self.file = None if file is None else str(file)
        self.field = field
        self.reason = message
        where = []
        if self.file is not None:
            where.append(f"file {self.file}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)


class ConfigError(ValueError):
    """Invalid method configuration (unknown key, wrong type, unknown preset)."""


class Interrupted(BaseException):
    """The process was asked to stop (Ctrl-C or SIGTERM) while a command ran.

    Raised by the command line's signal handlers. It derives from :class:`BaseException` (like
    :class:`KeyboardInterrupt`), so ``except Exception`` blocks let it through while every
    ``finally`` / ``except BaseException`` cleanup (temporary output folders) still runs, and it
    is not a :class:`KeyboardInterrupt`, which Lightning's trainer would swallow.

    Parameters
    ----------
    signum : int
        The signal received.
    """

    def __init__(self, signum: int):
        self.signum = int(signum)
        super().__init__(f"interrupted by signal {self.signum}")
