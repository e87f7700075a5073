"""The file a run's event log streams into, line by line, as the run goes.

A business day is a million events: they are written as they happen, never held. While
the run goes the file sits hidden beside the output folder (or in the system's
temporary folder when nothing is written); when the run is written it moves into the
run's staging folder as ``events.jsonl``. A run that fails, or is never written, leaves
nothing behind: the file is ours and is removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path

from cpqsim_scenarios.output import STAGING_PREFIX

# Lines are buffered in memory this far before they are written out.
BUFFER_BYTES = 1 << 20


class EventFile:
    """A :class:`cpqsim.events.LineSink` over a file of our own."""

    def __init__(self, folder: Path | None = None) -> None:
        fd, name = tempfile.mkstemp(prefix=STAGING_PREFIX, suffix=".jsonl", dir=folder)
        self.path = Path(name)
        self._file = os.fdopen(fd, "w", encoding="utf-8", buffering=BUFFER_BYTES)
        # Ours to remove (when discarded or forgotten) until it is moved into a run folder.
        self._cleanup = weakref.finalize(self, _remove, self._file, self.path)

    @classmethod
    def beside(cls, target: Path) -> EventFile:
        """A file in the nearest existing folder on the way to ``target`` (so moving it
        into the output folder is a rename, and no folder is created before the run)."""
        for folder in (target, *target.parents):
            if folder.is_dir():
                return cls(folder)
        return cls()

    def write(self, line: str) -> None:
        self._file.write(line)

    def lines(self) -> Iterator[str]:
        self.flush()
        with open(self.path, encoding="utf-8") as f:
            yield from f

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def move_to(self, destination: Path) -> None:
        """Close and move the file to ``destination``; from then on it is not ours to
        remove (the output folder's manifest lists it)."""
        self.close()
        try:
            os.replace(self.path, destination)
        except OSError:  # another file system: copy, then remove ours
            shutil.move(self.path, destination)
        self.path = destination
        self._cleanup.detach()

    def discard(self) -> None:
        """Remove the file now, if it is still ours."""
        self._cleanup()


def _remove(file, path: Path) -> None:
    with contextlib.suppress(OSError):
        file.close()
        path.unlink()
