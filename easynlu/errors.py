"""The exceptions easynlu raises. Each message says what went wrong and what to do."""


class EasyNLUError(Exception):
    """Base class for easynlu's own errors."""


class UnknownReferenceError(EasyNLUError, KeyError):
    """A model reference that is not in the catalogue, not ``hf:ORG/NAME`` and not a directory."""

    def __init__(self, message: str, ref: str = "", suggestions: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.ref = ref
        self.suggestions = tuple(suggestions)

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class ModelUnavailableError(EasyNLUError, RuntimeError):
    """No source could provide the weights of a model (or the files found are unusable)."""


class InputError(EasyNLUError, TypeError, ValueError):
    """Input easynlu cannot read: a bad type at some position, or no usable text column.

    It subclasses both TypeError and ValueError so that either ``except`` catches it.
    """


class DeviceError(EasyNLUError, RuntimeError):
    """The requested device or dtype is not available on this machine."""
