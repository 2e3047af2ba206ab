"""Score many candidates at once: ``score_many(specs) -> DataFrame`` (one row per spec).

Speed comes from sharing work between candidates, which mostly reuse the same layers:

1. every top-level layer (a conv, a whole residual block, ...) is lowered and costed once per
   distinct ``(layer, input shape, input hardware bits)`` and cached as a row of a numeric
   table: its per-op sums, its activation peak, the widths it needs from the hardware, and its
   canonical JSON fragment (so the spec hash needs no serialization of the whole spec);
2. per candidate, Python only walks its top-level layers doing one dict look-up each, keyed by
   the layer alone: the cache is one block table per activation state ``(shape, hardware
   bits)`` and every block points at the table of its output state (layers cache their own
   hash, see ``search_spaces.spec``); the spec hash is one SHA-256 over the blocks' cached JSON;
3. the per-candidate reductions (sums, peaks, width maxima) are numpy ``reduceat`` calls over all
   candidates, the accelerator logic is computed once per distinct width vector, and the totals
   are finished with numpy array arithmetic.

The results are identical to :func:`hwmodel.cost.cost_report` totals (tested). For search-space
sweeps, :func:`score_choices` also shares the ArchSpec construction between identical choice
dicts. Measured in ``benchmarks/cost_throughput.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hwmodel.accel import AccelConfig
from hwmodel.cost import (
    LOGIC_CELLS,
    TOTAL_SUM_FIELDS,
    CostParams,
    Widths,
    array_logic,
    finish_totals,
    layer_cost,
    unit_logic,
    widths_of,
)
from hwmodel.ir import lower_layer
from hwmodel.tech import Tech, default_tech
from search_spaces.spec import ArchSpec, LayerInfo, Shape, hash_frame, hash_of, layer_json

if TYPE_CHECKING:
    import pandas as pd

_GATES = ("or", "mux", "mux_or", "add")
#: Width-vector layout (element-wise max over a candidate's blocks = what the hardware needs).
_WIDTH_FIELDS = ("w_bits", "w_levels", "a_bits", "acc_bits", "norm_in_bits", "norm_out_levels",
                 "bsn", "bn", "gate_or", "gate_mux", "gate_mux_or", "gate_add", "tgap_width",
                 "pool_max_bits", "pool_avg_bits", "ca_cells", "ca_xor2", "ca_mux2")


def _widths_vector(w: Widths) -> tuple[int, ...]:
    return (w.w_bits, w.w_levels, w.a_bits, w.acc_bits, w.norm_in_bits, w.norm_out_levels,
            int(w.bsn), int(w.bn), *(w.gate_bits.get(g, 0) for g in _GATES), w.tgap_width,
            w.pool_max_bits, w.pool_avg_bits, w.ca_cells, w.ca_xor2, w.ca_mux2)


def _widths_from_vector(v: Sequence[int]) -> Widths:
    d = dict(zip(_WIDTH_FIELDS, (int(x) for x in v), strict=True))
    gates = {g: d[f"gate_{g}"] for g in _GATES if d[f"gate_{g}"]}
    return Widths(d["w_bits"], d["w_levels"], d["a_bits"], d["acc_bits"], d["norm_in_bits"],
                  d["norm_out_levels"], bool(d["bsn"]), bool(d["bn"]), gates, d["tgap_width"],
                  d["pool_max_bits"], d["pool_avg_bits"], d["ca_cells"], d["ca_xor2"],
                  d["ca_mux2"])


#: A costed block: (row in the numeric tables, the block table of its output state).
_Block = tuple[int, "_Table"]
_Table = dict[Any, _Block]


class Scorer:
    """A reusable batch scorer for one (accelerator, technology, parameters); keeps its cache of
    costed blocks between calls, so repeated sweeps get faster.

    The cache is a graph: one block table per activation state ``(shape, hardware bits)``,
    mapping a top-level layer to its costed block, which points at the table of its output
    state. Walking a candidate is then one dict look-up per layer keyed by the layer alone.
    """

    def __init__(self, accel: AccelConfig | None = None, tech: Tech | None = None,
                 params: CostParams | None = None) -> None:
        self.accel = accel if accel is not None else AccelConfig()
        self.tech = tech if tech is not None else default_tech()
        self.params = params if params is not None else CostParams()
        self._states: dict[tuple[Shape, int], _Table] = {}
        self._blocks: list[_Block] = []
        self._sums: list[tuple[float, ...]] = []
        self._peaks: list[int] = []
        self._widths: list[tuple[int, ...]] = []
        self._logic: dict[tuple[int, ...], tuple[float, ...]] = {}
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._state_of: dict[int, tuple[Shape, int]] = {}  # id(table) -> its state
        self._frags: list[bytes] = []  # row -> canonical JSON of the block's layer
        self._frames: dict[tuple[Shape, int, int], tuple[bytes, bytes]] = {}

    @property
    def n_blocks(self) -> int:
        """Distinct (layer, input shape, input bits) blocks costed so far."""
        return len(self._blocks)

    # ------------------------------------------------------------------ per-block cache
    def _table(self, shape: Shape, bits: int) -> _Table:
        key = (tuple(shape), bits)
        table = self._states.get(key)
        if table is None:
            table = self._states[key] = {}
            self._state_of[id(table)] = key
        return table

    def _block(self, table: _Table, info: LayerInfo, in_bits: int) -> _Block:
        ops, out_shape, out_bits = lower_layer(
            info, in_bits, float_intermediates=self.params.float_intermediates)
        costs = [layer_cost(op, self.accel, self.tech, self.params) for op in ops]
        self._sums.append(tuple(float(sum(getattr(c, k) for c in costs))
                                for k in TOTAL_SUM_FIELDS))
        self._peaks.append(max((c.live_act_bits for c in costs), default=0))
        self._widths.append(_widths_vector(widths_of(ops)))
        self._arrays = None
        self._frags.append(layer_json(info.layer))
        blk = (len(self._sums) - 1, self._table(out_shape, out_bits))
        self._blocks.append(blk)
        table[info.layer] = blk
        return blk

    def _miss(self, table: _Table, spec: ArchSpec, i: int) -> _Block:
        """Cost top-level layer ``i`` of ``spec`` (not in ``table``) at the state of ``table``."""
        return self._block(table, spec.top_layers()[i], self._state_of[id(table)][1])

    def _tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._arrays is None:
            self._arrays = (np.asarray(self._sums, dtype=np.float64),
                            np.asarray(self._peaks, dtype=np.int64),
                            np.asarray(self._widths, dtype=np.int32))
        return self._arrays

    def _logic_row(self, wv: tuple[int, ...]) -> tuple[float, ...]:
        hit = self._logic.get(wv)
        if hit is None:
            w = _widths_from_vector(wv)
            logic = array_logic(w, self.accel) + unit_logic(w, self.accel, self.params)
            hit = (*(float(getattr(logic, f)) for f in LOGIC_CELLS), logic.area_um2(self.tech))
            self._logic[wv] = hit
        return hit

    # ------------------------------------------------------------------ scoring
    def _walk(self, specs: Sequence[ArchSpec]) -> tuple[list[int], list[int]]:
        """Block rows of every candidate (flat) and each candidate's first index in them."""
        rows: list[int] = []
        starts: list[int] = []
        append, start = rows.append, starts.append
        states, miss = self._states, self._miss
        for spec in specs:
            s0 = len(rows)
            start(s0)
            table = states.get((spec.input_shape, spec.input_bits))
            if table is None:
                table = self._table(spec.input_shape, spec.input_bits)
            for layer in spec.layers:
                blk = table.get(layer)
                if blk is None:
                    blk = miss(table, spec, len(rows) - s0)
                append(blk[0])
                table = blk[1]
        return rows, starts

    def _hashes(self, specs: Sequence[ArchSpec], rows: list[int], starts: list[int]
                ) -> list[str]:
        """``spec.hash`` of every candidate, from the cached JSON fragments of its blocks."""
        frag = self._frags.__getitem__
        frames = self._frames
        out: list[str] = []
        ends = [*starts[1:], len(rows)]
        for spec, s0, s1 in zip(specs, starts, ends, strict=True):
            key = (spec.input_shape, spec.input_bits, spec.num_classes)
            frame = frames.get(key)
            if frame is None:
                frame = frames[key] = hash_frame(*key)
            out.append(hash_of(frame[0], map(frag, rows[s0:s1]), frame[1]))
        return out

    def score(self, specs: Iterable[ArchSpec], *, with_hash: bool = True) -> pd.DataFrame:
        """One row per spec: ``spec_hash`` (if asked) and every total of ``cost_report``."""
        import pandas as pd

        if not isinstance(specs, Sequence):
            specs = list(specs)
        rows, starts = self._walk(specs)
        n = len(starts)
        if n == 0:
            return pd.DataFrame(columns=["spec_hash", *TOTAL_SUM_FIELDS])
        ix = np.asarray(rows, dtype=np.int64)
        st = np.asarray(starts, dtype=np.int64)
        sums_t, peaks_t, widths_t = self._tables()
        sums = np.add.reduceat(sums_t[ix], st, axis=0)
        peaks = np.maximum.reduceat(peaks_t[ix], st)
        widths = np.ascontiguousarray(np.maximum.reduceat(widths_t[ix], st, axis=0))
        # distinct width vectors: compare rows as raw bytes (one sort of n fixed-size keys)
        raw = widths.view(np.dtype((np.void, widths.shape[1] * widths.itemsize))).reshape(-1)
        _, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
        logic_rows = self._logic_row
        logic_u = np.asarray([logic_rows(tuple(r)) for r in widths[first].tolist()])
        logic = logic_u[inverse.reshape(-1)]
        cols = self._finish(sums, peaks, logic)
        df = pd.DataFrame(cols, copy=False)
        if with_hash:
            df.insert(0, "spec_hash", self._hashes(specs, rows, starts))
        return df

    def _finish(self, sums: np.ndarray, peaks: np.ndarray, logic: np.ndarray
                ) -> dict[str, np.ndarray]:
        """:func:`hwmodel.cost.finish_totals` over the columns of all candidates at once."""
        cols = {k: sums[:, j] if k == "bops_uniq" or k.endswith("_pj")
                else sums[:, j].astype(np.int64) for j, k in enumerate(TOTAL_SUM_FIELDS)}
        cells = {name: logic[:, j].astype(np.int64) for j, name in enumerate(LOGIC_CELLS)}
        return finish_totals(cols, peaks, logic[:, -1], cells, self.accel, self.tech)


_SCORERS: dict[tuple[Any, ...], Scorer] = {}


def _scorer(accel: AccelConfig | None, tech: Tech | None, params: CostParams | None) -> Scorer:
    accel = accel if accel is not None else AccelConfig()
    tech = tech if tech is not None else default_tech()
    params = params if params is not None else CostParams()
    key = (accel, tech, params)
    sc = _SCORERS.get(key)
    if sc is None:
        if len(_SCORERS) > 16:
            _SCORERS.clear()
        sc = _SCORERS[key] = Scorer(accel, tech, params)
    return sc


def score_many(specs: Iterable[ArchSpec], accel: AccelConfig | None = None,
               tech: Tech | None = None, params: CostParams | None = None, *,
               with_hash: bool = True) -> pd.DataFrame:
    """Totals of :func:`hwmodel.cost.cost_report` for every spec, one DataFrame row each
    (column ``spec_hash`` first). The block cache is kept per (accel, tech, params)."""
    return _scorer(accel, tech, params).score(specs, with_hash=with_hash)


def score_choices(space: Any, choices: Sequence[Mapping[str, Any]],
                  accel: AccelConfig | None = None, tech: Tech | None = None,
                  params: CostParams | None = None, *, with_hash: bool = True
                  ) -> pd.DataFrame:
    """Score the candidates of a search space given as choice dicts (``space.from_choices``).

    Identical choice dicts share one ArchSpec and one scoring; rows come back in input order.
    """
    keys: dict[tuple[Any, ...], int] = {}
    specs: list[ArchSpec] = []
    order = np.empty(len(choices), dtype=np.int64)
    for i, ch in enumerate(choices):
        key = tuple(sorted(ch.items()))
        j = keys.get(key)
        if j is None:
            j = keys[key] = len(specs)
            specs.append(space.from_choices(dict(ch)))
        order[i] = j
    df = score_many(specs, accel, tech, params, with_hash=with_hash)
    return df.iloc[order].reset_index(drop=True)


__all__ = ["Scorer", "score_choices", "score_many"]
