"""The one exception type that the command line turns into a one-line error."""


class CsrnetError(Exception):
    """A problem with the user's input (files, options, data) rather than a bug."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type when the message is empty."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
