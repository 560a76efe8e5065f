"""The exceptions easynlu raises. Each message says what went wrong and what to do.

Every error a user can cause is an :class:`EasyNLUError`, and each also keeps the builtin base
that Python code would expect (``KeyError`` for an unknown name, ``ValueError`` for a bad
option, ...), so either ``except`` catches it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


class EasyNLUError(Exception):
    """Base class for easynlu's own errors."""


class UnknownReferenceError(EasyNLUError, KeyError):
    """A model reference that is not in the catalogue, not ``hf:ORG/NAME`` and not a directory."""

    def __init__(self, message: str, ref: str = "", suggestions: Sequence[str] = ()):
        super().__init__(message)
        self.message = message
        self.ref = ref
        self.suggestions = tuple(suggestions)

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class OptionError(EasyNLUError, ValueError):
    """An option with a value easynlu does not accept (a level, a pooling, layers, an alias, ...)."""


class OptionTypeError(OptionError, TypeError):
    """An argument of the wrong type, e.g. a model request that is not a string or a path."""


class ModelUnavailableError(EasyNLUError, RuntimeError):
    """No source could provide a model's files, or the files found are unusable.

    ``tried`` lists each place or step that was tried and what happened there; ``fix`` says
    what to do. The message holds all three.
    """

    def __init__(self, message: str, tried: Sequence[str] = (), fix: str = ""):
        self.summary = message
        self.tried = tuple(tried)
        self.fix = fix
        text = message
        if self.tried:
            text += "\nTried:\n" + "\n".join(f"  - {t}" for t in self.tried)
        if fix:
            text += f"\nTo fix: {fix}"
        super().__init__(text)


class ModelPathNotFoundError(ModelUnavailableError, FileNotFoundError):
    """A path given as a model (``path=``, or a request that looks like a path) that does not exist.

    ``path`` is the absolute path that was looked for; ``except FileNotFoundError`` catches it too.
    """

    def __init__(self, message: str, path: str = "", tried: Sequence[str] = (), fix: str = ""):
        super().__init__(message, tried, fix)
        self.path = path

    def __str__(self) -> str:  # not OSError's "[Errno ...]" form
        return str(self.args[0]) if self.args else ""


class InputError(EasyNLUError, TypeError, ValueError):
    """Input easynlu cannot read: a bad type at some position, or no usable text column.

    It subclasses both TypeError and ValueError so that either ``except`` catches it.
    """


class DeviceError(EasyNLUError, RuntimeError):
    """The requested device or dtype is not available on this machine."""


class OutOfMemoryError(DeviceError):
    """The device ran out of memory even on a batch of one window."""


class EasyNLUWarning(UserWarning):
    """A choice easynlu made for you that you may want to make yourself (the warning says how)."""


def user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning from the caller of this at the user's own line.

    The first frame outside the easynlu package, however deep in easynlu the warning is raised.
    """
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level
