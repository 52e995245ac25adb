"""The in-process driver-location index: drivers bucketed by H3 cell, searched ring by ring outwards
from the query's cell with a proof of when to stop (the default :class:`~sika.rides.locations.LocationIndex`,
and what one process needs).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from typing import TypeAlias

import h3.api.basic_int as h3
import numpy as np
import numpy.typing as npt
from h3 import H3BaseException

from sika.rides.geo import EARTH_RADIUS_M, Point, arc_m, chord2, unit_vector
from sika.rides.locations import InvalidLocationQuery, Update, check_driver, check_query, check_time

__all__ = ["CELLS_CACHED_MAX", "RESOLUTIONS", "RESOLUTION_DEFAULT", "RINGS_CACHED", "RINGS_MAX", "H3Index"]

# Measured with `sika bench dispatch --resolution R` (docs/benchmarks.md): fastest for 50,000 drivers
# over Lomé and 10 nearest within 3 km.
RESOLUTION_DEFAULT = 9
RESOLUTIONS = range(5, 13)
# Rings are cached per query cell up to this many; wider searches compute the outer rings afresh.
RINGS_CACHED = 4
# Past this many rings a search scans every driver instead: by then that is cheaper, and it bounds the
# work of one query whatever the radius and the density.
RINGS_MAX = 40
# Cell geometry cached (the city's cells and their neighbours); cleared whole when full.
CELLS_CACHED_MAX = 200_000
# Rounding margin on the proof that no unseen driver is nearer (a millimetre: far above the float and
# H3 rounding, far below any distance that matters).
_MARGIN_M = 1e-3

_Floats: TypeAlias = npt.NDArray[np.float64]

# H3Index's row: x, y, z (unit vector), last update (s), driver id.
_COLUMNS = 5
_AT, _ID = 3, 4
_XYZ = np.array((1.0, 1.0, 1.0, 0.0, 0.0))  # sums the squared coordinate differences, nothing else
_EMPTY: npt.NDArray[np.float64] = np.empty(0)


class _Cell:
    """One H3 cell's geometry, and for cells that were queried, its rings and how far they reach.

    ``reach_m[r]``: no point outside the disk of ``r`` rings around this cell is nearer than that to the
    cell's centre. Every path from the centre to such a point enters a cell of ring ``r + 1`` (the grid
    distance changes by one from a cell to its neighbour), so the bound is the least, over ring
    ``r + 1``, of (distance between centres − that cell's circumradius): true on the real, irregular
    cells, not on an idealised average hexagon (near Lomé, resolution 9 edges are 5 to 17 % shorter than
    the world average that ``h3.average_hexagon_edge_length`` gives).
    """

    __slots__ = ("center", "circumradius_m", "reach_m", "rings")

    def __init__(self, center: tuple[float, float, float], circumradius_m: float) -> None:
        self.center = center
        self.circumradius_m = circumradius_m
        self.rings: list[tuple[int, ...]] = []
        self.reach_m: list[float] = []


class H3Index:
    """Drivers bucketed by H3 cell (``resolution`` 5..12), their data in one flat numpy array.

    Each driver owns a slot, a row of ``_rows``: its unit vector (x, y, z), its last update time and
    its id, so that one gather fetches everything a search needs; a cell maps to the set of its
    drivers' slots. A search gathers the slots of rings 0, 1, 2… around the query's cell and ranks them
    by squared chord (monotone in, and exactly convertible to, the great-circle distance), stopping once
    the ``k`` best fresh candidates are nearer than anything outside the rings can be (:class:`_Cell`),
    or the rings cover the radius. All methods are thread-safe (one lock).
    """

    def __init__(self, resolution: int = RESOLUTION_DEFAULT, *, capacity: int = 1_024) -> None:
        if resolution not in RESOLUTIONS:
            raise InvalidLocationQuery(
                f"resolution must be between {RESOLUTIONS[0]} and {RESOLUTIONS[-1]}, not {resolution}"
            )
        self.resolution = resolution
        self._lock = threading.Lock()
        # driver id -> (point, cell, slot, at_s)
        self._drivers: dict[int, tuple[Point, int, int, float]] = {}
        self._cells: dict[int, set[int]] = {}
        self._geometry: dict[int, _Cell] = {}
        self._rows: _Floats = np.full((max(capacity, 16), _COLUMNS), np.nan)  # NaN time: a free slot
        self._used = 0  # slots below this have been handed out
        self._free: list[int] = []

    # Writes -------------------------------------------------------------------------------------------

    def update(self, driver_id: int, point: Point, at_s: float) -> None:
        check_driver(driver_id)
        check_time(at_s)
        cell = h3.latlng_to_cell(point.lat, point.lng, self.resolution)
        x, y, z = unit_vector(point.lat, point.lng)
        with self._lock:
            known = self._drivers.get(driver_id)
            if known is None:
                slot = self._allocate()
                self._cells.setdefault(cell, set()).add(slot)
            else:
                _, old_cell, slot, last_s = known
                if at_s < last_s:
                    return
                if old_cell != cell:
                    self._leave(old_cell, slot)
                    self._cells.setdefault(cell, set()).add(slot)
            self._rows[slot] = (x, y, z, at_s, driver_id)
            self._drivers[driver_id] = (point, cell, slot, at_s)

    def update_many(self, updates: Iterable[Update]) -> None:
        for driver_id, point, at_s in updates:
            self.update(driver_id, point, at_s)

    def remove(self, driver_id: int) -> None:
        with self._lock:
            self._forget(driver_id)

    def prune(self, now_s: float, max_age_s: float) -> int:
        fresh_after_s = now_s - max_age_s
        with self._lock:  # one critical section: a driver updated meanwhile is not pruned by mistake
            stale = [d for d, (_, _, _, at_s) in self._drivers.items() if at_s < fresh_after_s]
            for driver_id in stale:
                self._forget(driver_id)
        return len(stale)

    def _forget(self, driver_id: int) -> None:
        known = self._drivers.pop(driver_id, None)
        if known is None:
            return
        _, cell, slot, _ = known
        self._leave(cell, slot)
        self._rows[slot] = np.nan
        self._free.append(slot)

    def _allocate(self) -> int:
        if self._free:
            return self._free.pop()
        if self._used == len(self._rows):
            rows = np.full((2 * len(self._rows), _COLUMNS), np.nan)
            rows[: self._used] = self._rows
            self._rows = rows
        self._used += 1
        return self._used - 1

    def _leave(self, cell: int, slot: int) -> None:
        members = self._cells[cell]
        assert slot in members, (cell, slot)
        members.remove(slot)
        if not members:
            del self._cells[cell]

    # Reads --------------------------------------------------------------------------------------------

    def position(self, driver_id: int) -> Point | None:
        with self._lock:
            known = self._drivers.get(driver_id)
        return None if known is None else known[0]

    def __len__(self) -> int:
        return len(self._drivers)

    def close(self) -> None:
        """Nothing to release: the index lives in this process."""

    def nearest(
        self, point: Point, k: int, radius_m: float, now_s: float, max_age_s: float
    ) -> list[tuple[int, float]]:
        check_query(k, radius_m, max_age_s)
        cell = h3.latlng_to_cell(point.lat, point.lng, self.resolution)
        search = _Search(unit_vector(point.lat, point.lng), k, chord2(radius_m), now_s - max_age_s)
        with self._lock:
            if not self._drivers:
                return []
            if not self._search_rings(search, cell, radius_m):
                search.reset()
                search.add(self._rows[: self._used].copy())  # add() squares what it is given
            return search.best()

    def _search_rings(self, search: _Search, cell: int, radius_m: float) -> bool:
        """Walk the rings until the answer is proven; False if that would take more than RINGS_MAX.

        Rings are gathered cheaply (set lookups) and ranked in numpy only when that can conclude: once
        there are ``k`` candidates to rank, and then once the rings reach as far as the ``k``-th best.
        """
        info = self._cell(cell)
        slack_m = arc_m(search.xyz, info.center)  # the query point is this far from the centre
        cells = self._cells
        pending: list[int] = []
        for ring in range(RINGS_MAX + 1):
            for neighbour in self._ring(cell, info, ring):
                members = cells.get(neighbour)
                if members:
                    pending.extend(members)
            # No driver outside the rings so far is nearer to the query point than this.
            reach_m = self._reach_m(cell, info, ring) - slack_m - _MARGIN_M
            covered = reach_m >= radius_m
            reach_chord2 = chord2(reach_m)
            if not covered and (
                reach_m <= 0
                or len(pending) + len(search) < search.k
                or reach_chord2 < search.kth_chord2 < math.inf  # short of the k-th best so far
            ):
                continue  # nothing can be proven with this ring: gather the next one first
            if pending:
                search.add(self._rows.take(pending, axis=0))
                pending.clear()
            if covered or reach_chord2 >= search.kth_chord2:
                return True
        return False

    def _cell(self, cell: int) -> _Cell:
        info = self._geometry.get(cell)
        if info is None:
            if len(self._geometry) >= CELLS_CACHED_MAX:
                self._geometry.clear()
            center = unit_vector(*h3.cell_to_latlng(cell))
            circumradius_m = max(arc_m(center, unit_vector(*vertex)) for vertex in h3.cell_to_boundary(cell))
            info = _Cell(center, circumradius_m)
            self._geometry[cell] = info
        return info

    def _ring(self, cell: int, info: _Cell, ring: int) -> tuple[int, ...]:
        if ring < len(info.rings):
            return info.rings[ring]
        cells = _grid_ring(cell, ring)
        if ring == len(info.rings) and ring < RINGS_CACHED:
            info.rings.append(cells)
        return cells

    def _reach_m(self, cell: int, info: _Cell, ring: int) -> float:
        while len(info.reach_m) <= ring:
            outer = len(info.reach_m) + 1
            info.reach_m.append(
                min(
                    arc_m(info.center, neighbour.center) - neighbour.circumradius_m
                    for neighbour in map(self._cell, self._ring(cell, info, outer))
                )
            )
        return info.reach_m[ring]


def _grid_ring(cell: int, ring: int) -> tuple[int, ...]:
    try:
        return tuple(h3.grid_ring(cell, ring))
    except H3BaseException:  # near a pentagon, with h3 releases before 4.2: the disk is always defined
        inner = set(h3.grid_disk(cell, ring - 1)) if ring else set()
        return tuple(c for c in h3.grid_disk(cell, ring) if c not in inner)


class _Search:
    """The fresh candidates within the radius that may still be among the ``k`` nearest.

    Candidates farther than the ``k``-th best so far are dropped as they come (the ``k``-th best only
    gets nearer), so that the arrays stay about ``k`` long.
    """

    __slots__ = ("chord2", "fresh_after_s", "ids", "k", "kth_chord2", "origin", "radius_chord2", "xyz")

    def __init__(
        self, xyz: tuple[float, float, float], k: int, radius_chord2: float, fresh_after_s: float
    ) -> None:
        self.xyz = xyz
        self.origin = np.array((*xyz, 0.0, 0.0))  # subtracted from rows: leaves time and id alone
        self.k = k
        self.radius_chord2 = radius_chord2
        self.fresh_after_s = fresh_after_s
        self.reset()

    def reset(self) -> None:
        self.chord2: _Floats = _EMPTY
        self.ids: _Floats = _EMPTY
        self.kth_chord2 = math.inf  # until there are k candidates

    def __len__(self) -> int:
        return len(self.chord2)

    def add(self, rows: _Floats) -> None:
        """Take in the rows (a copy: they are modified) of drivers that may be candidates."""
        fresh = rows[:, _AT] >= self.fresh_after_s  # NaN, a free slot, is never fresh
        ids = rows[:, _ID].copy()  # before the squaring below
        rows -= self.origin
        rows *= rows
        chord2 = rows @ _XYZ
        keep = (chord2 <= min(self.radius_chord2, self.kth_chord2)) & fresh
        if not keep.all():
            chord2, ids = chord2[keep], ids[keep]
        if len(self.chord2):
            chord2, ids = np.concatenate((self.chord2, chord2)), np.concatenate((self.ids, ids))
        if len(chord2) > self.k:
            self.kth_chord2 = float(np.partition(chord2, self.k - 1)[self.k - 1])
            near = chord2 <= self.kth_chord2  # ties at the k-th stay, for the ids to decide between them
            chord2, ids = chord2[near], ids[near]
        elif len(chord2) == self.k:
            self.kth_chord2 = float(chord2.max())
        self.chord2, self.ids = chord2, ids

    def best(self) -> list[tuple[int, float]]:
        ranked = sorted(zip(self.chord2.tolist(), self.ids.tolist(), strict=True))[: self.k]
        return [(int(i), 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(c) / 2))) for c, i in ranked]
