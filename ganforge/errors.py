"""Exceptions that ganforge reports to the user as one line, without a traceback."""


class UserError(Exception):
    """An error caused by the user's input (arguments, configuration, files).

    The CLI prints ``ganforge: error: <message>`` and exits with status 2.
    """
