"""What the package raises and warns: the command line turns a :class:`CsrnetError` into a
one-line error (``csrnet: error: ...``) and a :class:`CsrnetWarning` into a one-line warning
(``csrnet: warning: ...``)."""

from __future__ import annotations

import warnings


class CsrnetError(Exception):
    """A problem with the user's input (files, options, data) rather than a bug."""


class CsrnetWarning(UserWarning):
    """Something done that the user may not expect (a file skipped, a frame dropped, a
    level the weights were not trained for); the work goes on."""


def warn(message: str) -> None:
    """Issue a :class:`CsrnetWarning`."""
    warnings.warn(message, CsrnetWarning, stacklevel=2)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type when the message is empty."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
