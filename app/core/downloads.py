"""Content-Disposition of the files simreg hands out, for any file name (RFC 6266).

Names come from admins ("Сотрудники.csv", or anything a client sends): the header carries an
ASCII `filename` for old clients and the exact name in `filename*` (RFC 8187, UTF-8 and
percent-encoded), so no character of a name can break the header or add a parameter to it.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

__all__ = ["XLSX", "attachment", "spooled_file"]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# RFC 8187 attr-char besides letters and digits: what stands unencoded in filename*.
_ATTR_CHARS = "!#$&+-.^_`|~"
# The ASCII fallback keeps letters, digits and punctuation no client treats specially; a
# quote, backslash, semicolon, percent sign, slash or control character becomes "_".
_NOT_PLAIN = re.compile(r"[^A-Za-z0-9 !#$&'()+,.=@\[\]^_`{}~-]")
# Never part of a file name: control characters and path separators.
_NOT_IN_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")
_DEFAULT_NAME = "download"


def attachment(filename: str, *, fallback: str | None = None) -> str:
    """`attachment; filename="<ASCII>"; filename*=UTF-8''<percent-encoded>` for `filename`.

    `fallback` is the ASCII name for clients that do not read filename* (by default
    `filename` with every unsafe character replaced)."""
    name = _NOT_IN_NAME.sub("_", filename).strip() or _DEFAULT_NAME
    plain = _NOT_PLAIN.sub("_", fallback if fallback is not None else name).strip()
    encoded = quote(name, safe=_ATTR_CHARS, encoding="utf-8", errors="replace")
    return f"attachment; filename=\"{plain or _DEFAULT_NAME}\"; filename*=UTF-8''{encoded}"


def spooled_file(
    write: Callable[[Path], None], *, filename: str, media_type: str = XLSX, prefix: str = "simreg-"
) -> FileResponse:
    """A file `write` makes in a temporary file, sent as the attachment `filename` and removed
    once sent (or at once, if writing it fails). For formats written whole before they can be
    read, such as XLSX, whose writer keeps its own memory flat."""
    handle, name = tempfile.mkstemp(prefix=prefix, suffix=Path(filename).suffix)
    os.close(handle)
    path = Path(name)
    try:
        write(path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return FileResponse(
        path,
        media_type=media_type,
        headers={"Content-Disposition": attachment(filename)},
        background=BackgroundTask(path.unlink),
    )
