"""The one exception type that the command line turns into a one-line error."""


class CsrnetError(Exception):
    """A problem with the user's input (files, options, data) rather than a bug."""
