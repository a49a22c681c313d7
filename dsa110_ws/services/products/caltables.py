"""CASA calibration tables: solve type, solutions, plots and the registry row (``w.cal``).

QA of a caltable is ``w.qa.cal(path)``.  The solve type is read from the table (``VisCal``,
``ParType``) and refined by the DSA-110 filename suffix into the registry's names (K, BA, BP, GA,
GP, 2G, FLUX) -- the old backend reported names the registry never used.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsa110_ws.errors import NotFoundError
from dsa110_ws.services.products._calsol import (
    REGISTRY_TYPES,
    CalSolutions,
    load_solutions,
    param_column,
    registry_type,
)
from dsa110_ws.services.products._casatables import open_table, table_keywords
from dsa110_ws.services.products._needsdb import needs_database

if TYPE_CHECKING:
    import pandas as pd

    from dsa110_ws.core.paths import PathPolicy
    from dsa110_ws.repositories.caltables import CaltableRepository

__all__ = ["CaltableService", "CalSolutions", "REGISTRY_TYPES"]

PathLike = str | os.PathLike[str]


class CaltableService:
    """Calibration-table inspection (``w.cal``)."""

    def __init__(self, paths: PathPolicy, registry: CaltableRepository | None):
        self._paths = paths
        self._registry_repo = registry  # None: files only (no pipeline database configured)

    @property
    def _registry(self) -> CaltableRepository:
        return needs_database(self._registry_repo, "The caltables registry", "the tables' files")

    def __repr__(self) -> str:
        return (
            "<CaltableService: load, solve_type, plot_gains, plot_bandpass, plot_delays, "
            "registry_row, find, sets>"
        )

    def _path(self, path: PathLike) -> Path:
        return self._paths.product(path, what="calibration table", expect="dir")

    # -- the pipeline's registry ------------------------------------------------------------
    def find(self, **filters: Any) -> pd.DataFrame:
        """Registry rows (``caltables``) by set, type, status, validity...; the filters of
        :meth:`CaltableRepository.find <dsa110_ws.repositories.caltables.CaltableRepository.find>`."""
        return self._registry.find(**filters)

    def sets(self) -> pd.DataFrame:
        """One row per registered set: types in order, status, validity window, count."""
        return self._registry.sets()

    def load(self, path: PathLike) -> CalSolutions:
        """The table's solutions (see :class:`CalSolutions`)."""
        return load_solutions(self._path(path))

    def solve_type(self, path: PathLike) -> str | None:
        """Registry type (K, BA, BP, GA, GP, 2G or FLUX) from the table's ``VisCal`` keyword,
        refined by the DSA-110 filename suffix when it agrees; ``None`` for a Jones type the
        pipeline does not register.  Reads the solutions only for an unsuffixed G table."""
        p = self._path(path)
        with open_table(p, what="calibration table") as tb:
            param_column(tb, p)
            vis_cal = table_keywords(tb).get("VisCal")
        kind = registry_type(p, vis_cal)
        if kind == "GA" and not _has_suffix(p):
            return self.load(p).table_type
        return kind

    def registry_row(self, path: PathLike) -> Any:
        """The ``caltables`` registry row of this table (set, type, validity window in MJD,
        source MS...); :class:`NotFoundError` when the pipeline never registered it."""
        repo = self._registry
        given = os.path.expanduser(str(path))
        for candidate in dict.fromkeys([given, str(Path(given).absolute()), str(self._path(path))]):
            try:
                return repo.get_by_path(candidate)
            except NotFoundError:
                continue
        raise NotFoundError(
            f"Calibration table {path} is not in the pipeline's caltables registry; "
            "w.cal.find(set_name=...) lists the registered ones."
        )

    def plot_gains(
        self,
        path: PathLike,
        ax: Any = None,
        *,
        y: str = "amp",
        antennas: Any = None,
        spw: int | None = None,
    ) -> Any:
        """Gain amplitude (``y="amp"``) or phase (``"phase"``, deg) against time per antenna."""
        from dsa110_ws.services.products._calplots import plot_gains

        return plot_gains(self.load(path), ax, y=y, antennas=antennas, spw=spw)

    def plot_bandpass(
        self,
        path: PathLike,
        ax: Any = None,
        *,
        y: str = "amp",
        antennas: Any = None,
        spw: int | None = None,
    ) -> Any:
        """Bandpass amplitude or phase against frequency per antenna."""
        from dsa110_ws.services.products._calplots import plot_bandpass

        return plot_bandpass(self.load(path), ax, y=y, antennas=antennas, spw=spw)

    def plot_delays(self, path: PathLike, ax: Any = None, *, spw: int | None = None) -> Any:
        """Delays (ns) per antenna of a K table."""
        from dsa110_ws.services.products._calplots import plot_delays

        return plot_delays(self.load(path), ax, spw=spw)

    def plot(self, path: PathLike, ax: Any = None, **kwargs: Any) -> Any:
        """The natural plot for the table's type: delays (K), bandpass (B), gains (G)."""
        sol = self.load(path)
        from dsa110_ws.services.products._calplots import plot_bandpass, plot_delays, plot_gains

        if not sol.is_complex:
            return plot_delays(sol, ax, **kwargs)
        if sol.values.shape[1] > 1:
            return plot_bandpass(sol, ax, **kwargs)
        return plot_gains(sol, ax, **kwargs)


def _has_suffix(p: Path) -> bool:
    from dsa110_ws.services.products._calsol import suffix_type

    return suffix_type(p) is not None
