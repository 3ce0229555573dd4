"""The shipped measurement files: xz-compressed CSVs, checked against their SHA-256 on every load.

Reading never executes anything from a file: the bytes are decompressed with a bound on their
size (:data:`MAX_CSV_BYTES`), hashed, compared with the checksum recorded in the code (the
SHA-256 of the uncompressed CSV, listed in the dataset's README and ``SHA256SUMS``), and only
then parsed as plain numbers with :func:`numpy.loadtxt`. A file that is missing, not xz, too big
or altered is a :class:`~hybridwm.errors.FormatError` naming the file and the fix.
"""

from __future__ import annotations

import hashlib
import lzma
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from hybridwm.errors import FormatError

__all__ = ["MAX_CSV_BYTES", "ShippedFile", "read_columns"]

#: the largest decompressed CSV read (the biggest shipped one, Silverbox, is 6.3 MB)
MAX_CSV_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ShippedFile:
    """One measurement file shipped in ``hybridwm/datasets/data/<folder>/<name>.xz``.

    Args:
        folder: the dataset's folder (``"silverbox"``, ``"emps"``).
        name: the CSV's file name without ``.xz`` (``"DATA_EMPS.csv"``).
        sha256: hex SHA-256 of the uncompressed CSV.
        columns: the header's column names, in order.
    """

    folder: str
    name: str
    sha256: str
    columns: tuple[str, ...]


def _compressed_bytes(file: ShippedFile, data_dir: str | os.PathLike[str] | None) -> bytes:
    """The decompressed CSV bytes of ``file`` from the package or from ``data_dir``."""
    if data_dir is None:
        source = resources.files("hybridwm.datasets").joinpath("data", file.folder, file.name)
        where = f"hybridwm/datasets/data/{file.folder}/{file.name}.xz"
        path = Path(str(source) + ".xz")
    else:
        path = Path(data_dir) / (file.name + ".xz")
        where = str(path)
    if not path.is_file():
        raise FormatError(
            f"The measurement file {where} is missing. Reinstall hybridwm (the CSVs ship with "
            f"the package), or pass data_dir= a folder holding {file.name}.xz."
        )
    try:
        with lzma.open(path, "rb") as fh:
            raw = fh.read(MAX_CSV_BYTES + 1)
    except (lzma.LZMAError, EOFError, OSError) as exc:
        raise FormatError(
            f"{where} is not a readable xz file ({exc}); replace it with the shipped copy."
        ) from None
    if len(raw) > MAX_CSV_BYTES:
        raise FormatError(
            f"{where} decompresses to more than {MAX_CSV_BYTES} bytes, more than any shipped "
            f"measurement; it is not the shipped file. Replace it with the shipped copy."
        )
    return raw


def read_columns(
    file: ShippedFile, data_dir: str | os.PathLike[str] | None = None
) -> dict[str, np.ndarray]:
    """The columns of a shipped measurement file, after checking its SHA-256.

    Args:
        file: which file.
        data_dir: a folder holding ``<name>.xz`` to read instead of the shipped copy (the
            checksum is checked all the same).

    Returns:
        ``{column: (rows,) float64 array}`` in the header's order.

    Raises:
        FormatError: the file is missing, not xz, too big or altered (checksum).
    """
    raw = _compressed_bytes(file, data_dir)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != file.sha256:
        raise FormatError(
            f"The checksum of {file.name} is {digest}, not the recorded {file.sha256}: the file "
            f"was altered or is another version. Use the shipped copy (see "
            f"hybridwm/datasets/data/{file.folder}/README.md for its provenance)."
        )
    # the checksum fixes every byte, so the header and the numbers are the recorded ones
    body = raw.decode("ascii").split("\n", 1)[1]
    table = np.loadtxt(body.splitlines(), delimiter=",", dtype=np.float64, ndmin=2)
    return {name: table[:, j].copy() for j, name in enumerate(file.columns)}
