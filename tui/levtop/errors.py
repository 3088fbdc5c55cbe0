"""Errors that are the user's to fix: printed as one line, never as a traceback."""


class UserError(Exception):
    """Bad input (config, dataset, arguments). ``str(err)`` is the whole one-line message."""

    exit_code = 2
    # Said after the message: what else the user should know (an exposed secret, say).
    warnings: tuple[str, ...] = ()
