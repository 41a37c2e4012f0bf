"""Choice parameters that take an option *name* or an index, on every QGIS from 3.22.

QGIS 3.22's plain enum parameters accept indices only (``DEVICE=2``), while users of
processing.run and qgis_process write names (``DEVICE=cpu``). We keep the plain enum
(dialogs and the modeler show the labels) and translate names to indices before QGIS
checks the values, and back to names when the algorithm reads them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Choice:
    key: str
    names: tuple[str, ...]  # what scripts type: "unet", "cpu"
    labels: tuple[str, ...]  # what dialogs show: "U-Net", "CPU"

    def index_of(self, value) -> int | None:
        """Index for an int, a digit string, a name or a label (case-insensitive)."""
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)) and float(value).is_integer():
            i = int(value)
            return i if 0 <= i < len(self.names) else None
        if isinstance(value, (list, tuple)) and len(value) == 1:
            return self.index_of(value[0])
        text = str(value).strip()
        if text.lstrip("-").isdigit():
            return self.index_of(int(text))
        low = text.casefold()
        for i, (n, lab) in enumerate(zip(self.names, self.labels)):
            if low in (n.casefold(), lab.casefold()):
                return i
        return None

    def describe(self) -> str:
        return ", ".join(f"{n} ({i})" for i, n in enumerate(self.names))
