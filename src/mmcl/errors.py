"""The one error type for a user's mistake: a bad option, file or input.

The CLI prints its message on one line and exits with code 2. Every other exception is a bug
of ours: the CLI shows its traceback and asks for a report.
"""

from __future__ import annotations

import errno

# the user's file system said no (permissions, a full or read-only disk, a file where a
# folder is needed): theirs to fix, not a bug of ours
PATH_ERRORS = {
    errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR, errno.EEXIST, errno.ENOSPC,
    errno.EROFS, errno.ENAMETOOLONG, errno.ELOOP, errno.EDQUOT,
}  # fmt: skip


class UserError(Exception):
    """A mistake the user can fix; the message says where (file, field, option) and how."""

    @classmethod
    def of(cls, e: BaseException) -> UserError | None:
        """`e` as the user's to fix: itself, or an `OSError` their file system raised on a
        named file (as "FILE: reason."); None for anything else, a bug of ours."""
        if isinstance(e, UserError):
            return e
        if isinstance(e, OSError) and e.errno in PATH_ERRORS and e.filename:
            return cls(f"{e.filename}: {e.strerror}.")
        return None
