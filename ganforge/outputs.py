"""Output paths, checked before long work and written so that a reader never sees half a file.

* :func:`writable_file`: refuse (``UserError``), before a simulation, a training or a
  synthesis starts, an output file that could not be written afterwards;
* :func:`writable_folder`: the same for an output folder (made if missing);
* :func:`save_npz`: an ``.npz`` under exactly the name given (numpy alone appends ``.npz``),
  written to a temporary file in the same folder and renamed.
"""

import os
import tempfile

from ganforge.errors import UserError

__all__ = ["writable_file", "writable_folder", "save_npz"]


def writable_folder(path):
    """Make folder ``path`` if it is missing; ``UserError`` if it cannot be made or
    written."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK):
        raise UserError(f"cannot write {path}: the folder is not writable")


def writable_file(path):
    """``UserError`` unless file ``path`` could be written (its folder is made if missing)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise UserError(f"cannot write {path}: a folder")
    writable_folder(os.path.dirname(os.path.abspath(path)))


def save_npz(path, arrays):
    """Write ``arrays`` (a dict) to ``path`` as .npz, atomically, under exactly that name."""
    import numpy as np
    path = os.fspath(path)
    writable_file(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)),
                                   prefix=".ganforge-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
