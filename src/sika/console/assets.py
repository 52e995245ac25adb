"""The console's static files (vendored scripts, styles, the cities' GeoJSON), served from the package.

Each file's URL carries a hash of its content (``/console/static/3f2a9c1e/vendor/htmx.min.js``), so
a browser keeps it for a year and never asks again until it changes; files are gzipped once, in
memory, for browsers that accept it: on 3G the first visit costs what the compressed files weigh,
later visits only the page.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

__all__ = ["STATIC_DIR", "Asset", "Assets"]

STATIC_DIR = Path(__file__).parent / "static"
FILES_MAX = 64
FILE_BYTES_MAX = 1_000_000
_TYPES = {".js": "text/javascript", ".css": "text/css", ".geojson": "application/geo+json",
          ".txt": "text/plain", ".svg": "image/svg+xml", ".png": "image/png"}


@dataclass(frozen=True, slots=True)
class Asset:
    path: str
    version: str
    media_type: str
    body: bytes
    gzipped: bytes | None

    @property
    def url(self) -> str:
        return f"/console/static/{self.version}/{self.path}"


class Assets:
    def __init__(self, root: Path = STATIC_DIR) -> None:
        self._files: dict[str, Asset] = {}
        for file in sorted(root.rglob("*")):
            if not file.is_file():
                continue
            body = file.read_bytes()
            assert len(body) <= FILE_BYTES_MAX, file
            relative = file.relative_to(root).as_posix()
            media_type = (_TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0]
                          or "application/octet-stream")
            packed = gzip.compress(body, compresslevel=9, mtime=0) if media_type != "image/png" else None
            self._files[relative] = Asset(
                path=relative, version=hashlib.sha256(body).hexdigest()[:10], media_type=media_type,
                body=body,
                gzipped=packed if packed is not None and len(packed) < len(body) else None)
        assert len(self._files) <= FILES_MAX

    def url(self, path: str) -> str:
        return self._files[path].url

    def find(self, path: str) -> Asset | None:
        return self._files.get(path)
