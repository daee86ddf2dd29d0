"""The one exception for a user's mistake: a bad path, option, file or request.

The CLI prints a `CimpError` as one line and exits with status 2; any other exception is a
bug and keeps its traceback.
"""


class CimpError(Exception):
    """Something the user can fix; the message says what and how."""
