"""The durable tap log: one JSON object per line, appended, flushed and fsynced.

The station writes the line *before* it shows the decision, so a tap anyone saw decided is
on disk even if the process is killed the next instant. The log keeps the whole card
number (the card register needs it to trace a tap) and never a name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class TapLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def append(self, record: dict[str, Any]) -> None:
        """Write one record and return only once it is on stable storage."""
        line = (json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n").encode()
        written = os.write(self._fd, line)
        if written != len(line):  # O_APPEND writes of this size are not split in practice
            raise OSError(f"short write to tap log ({written} of {len(line)} bytes)")
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def read_log(path: Path) -> list[dict[str, Any]]:
    """Every complete record; a torn last line (power cut mid-write) is ignored."""
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
