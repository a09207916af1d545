"""The one error type for a user's mistake: a bad option, file or input.

The CLI prints its message on one line and exits with code 2. Every other exception is a bug
of ours: the CLI shows its traceback and asks for a report.
"""


class UserError(Exception):
    """A mistake the user can fix; the message says where (file, field, option) and how."""
