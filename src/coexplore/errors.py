"""The errors that mean "the user asked for something that cannot be done".

Everything the command line reports as a one-line ``error: ...`` (exit status 2) derives from
`CoexploreError`; any other exception is a bug and shows its traceback. Each layer raises the
subclass for its own input (a config key, a device catalog, an architecture file, a run
database, ...). `InputError` is also a `ValueError`, so code that validates a value with
``except ValueError`` (a space decoding an architecture file's JSON, say) still catches it.

This module imports nothing of coexplore: every layer may raise these.
"""

from __future__ import annotations


class CoexploreError(Exception):
    """Base of every user error: reported in one line, exit status 2, no traceback."""


class UserError(CoexploreError):
    """A problem with what the user asked for that no more specific class names (a command's
    options, a run folder that already holds a run)."""


class InputError(CoexploreError, ValueError):
    """A value the user gave is wrong: in a file (architecture, device catalog, accuracy table,
    data folder), a config value or an option."""


class UnknownName(CoexploreError, KeyError):
    """A name (space, strategy, device, dataset, ...) that is not registered; the message lists
    the valid ones. A KeyError too, for code that looks names up."""

    def __str__(self) -> str:  # KeyError quotes its argument; a message should not be quoted
        return str(self.args[0]) if self.args else ""


class SearchStopped(CoexploreError):
    """The search stopped early because its children kept failing alike (one-line message;
    the command line exits with status 3: the run is kept and can be resumed)."""
