"""The dashboard's read-only access layer over the results store.

The pages never touch SQL or the store directly: they call :func:`get_data` and the methods
of :class:`DashboardData`, which opens the store read-only (``open_store(url,
read_only=True)``) and keeps, per study, a cached frame of its candidates in the canonical
columns the figures expect. A refresh asks the store only for what changed: rows after a
watermark (``since_id``; the watermark stays below the oldest unfinished candidate so that
status changes are seen) and the current Pareto members (``pareto_only=True``, precomputed by
the store), so a live page over a 10k-candidate study costs one small query per tick.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dashboard.figures import DONE_STATUSES, default_direction
from dse.catalog import catalogue
from dse.status import FINAL_STATUSES

#: Seconds between two store refreshes of the same study (pages share the cache).
MIN_REFRESH_S = 0.5


@dataclass(frozen=True)
class StudyInfo:
    """What a study searches and for what."""

    name: str
    space: str
    dataset: str
    objectives: tuple[tuple[str, str], ...]  # (metric, "maximize" | "minimize")
    budgets: tuple[tuple[str, str, float], ...]  # (metric, op, value)
    config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def objective_names(self) -> list[str]:
        return [m for m, _ in self.objectives]

    @property
    def directions(self) -> dict[str, str]:
        return dict(self.objectives)


@dataclass(frozen=True)
class CandidateInfo:
    """One candidate: its row (canonical columns), spec JSON, per-layer hardware report."""

    candidate_id: int
    study: str
    row: Mapping[str, Any]
    spec_json: str
    per_layer: pd.DataFrame
    hardware: Mapping[str, Any]
    #: names of the candidate's stored artifacts (e.g. ``reconstruction``: a PNG)
    artifacts: tuple[str, ...] = ()
    #: co-search: the pair's accelerator (every field) and the fields the space searched
    accel: Mapping[str, Any] | None = None
    accel_searched: tuple[str, ...] = ()


def _objectives(raw: Any) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for item in raw or []:
        if isinstance(item, Mapping):
            name = str(item.get("name") or item.get("metric"))
            out.append((name, str(item.get("direction") or default_direction(name))))
        else:
            name, direction = item[0], item[1] if len(item) > 1 else default_direction(item[0])
            out.append((str(name), str(direction)))
    return tuple(out)


def _budgets(raw: Any) -> tuple[tuple[str, str, float], ...]:
    out: list[tuple[str, str, float]] = []
    for item in raw or []:
        if isinstance(item, Mapping):
            out.append((str(item["metric"]), str(item.get("op", "<=")), float(item["value"])))
        else:
            out.append((str(item[0]), str(item[1]), float(item[2])))
    return tuple(out)


def _loads(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def canonical_candidates(raw: pd.DataFrame) -> pd.DataFrame:
    """The store's query frame in the dashboard's columns: ``candidate_id`` (int), ``trial``,
    ``status``, ``pareto`` (bool), ``created_at``, ``updated_at``, the metric columns as
    floats, the numeric entries of the ``metrics`` JSON as extra columns, and one
    ``choice:<name>`` column per architecture choice (see
    :func:`dashboard.parcoords.expand_choices`)."""
    df = raw.copy()
    renames = {"trial_number": "trial", "id": "candidate_id"}
    df = df.rename(columns={k: v for k, v in renames.items()
                            if k in df.columns and v not in df.columns})
    if "candidate_id" not in df.columns:
        raise ValueError(f"store query: column 'candidate_id' missing (got {list(raw.columns)})")
    df["candidate_id"] = df["candidate_id"].astype("int64")
    if "trial" not in df.columns:
        df["trial"] = np.nan
    # a candidate without an evaluation yet is waiting
    df["status"] = df["status"].fillna("queued").astype(str) if "status" in df.columns \
        else "complete"
    df["pareto"] = df["pareto"].fillna(False).astype(bool) if "pareto" in df.columns else False
    for col in axis_metrics():
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    stamps = [c for c in ("finished_at", "started_at", "created_at") if c in df.columns]
    for c in stamps:
        df[c] = pd.to_datetime(df[c]).astype("datetime64[ns]")
    if stamps:
        upd = df[stamps[0]]
        for c in stamps[1:]:
            upd = upd.fillna(df[c])
        df["updated_at"] = upd
        if "created_at" not in df.columns:
            df["created_at"] = df[stamps[-1]]
    if "metrics" in df.columns:
        extra: dict[str, dict[int, float]] = {}
        for idx, m in zip(df.index, df["metrics"], strict=True):
            m = _loads(m)
            if not isinstance(m, Mapping):
                continue
            for k, v in m.items():
                if (isinstance(v, int | float) and not isinstance(v, bool)
                        and k not in df.columns):
                    extra.setdefault(str(k), {})[idx] = float(v)
        for k, vals in extra.items():
            df[k] = pd.Series(vals, dtype=float).reindex(df.index)
        df = df.drop(columns=["metrics"])
    if "choices" in df.columns:  # the sampler's choices, one column each (parallel coords)
        from dashboard.parcoords import expand_choices

        df = pd.concat([df, expand_choices(df)], axis=1)
    return df.set_index("candidate_id", drop=False).sort_index()


def axis_metrics() -> tuple[str, ...]:
    """The catalogue's metrics offered as axes (when present with values), trained first."""
    return catalogue().axes()


def numeric_axes(df: pd.DataFrame, objectives: Sequence[str] = ()) -> list[str]:
    """Axis choices: the objectives first, then the catalogue's axes, then other numeric
    columns outside the catalogue, each only when it holds at least one value."""
    cat = catalogue()
    skip = {"candidate_id", "trial", "study_id", "attempt", "evaluation_id", "pareto"}
    out: list[str] = []
    for col in (*objectives, *cat.axes(), *df.columns):
        if col in out or col in skip or col not in df.columns:
            continue
        if col in cat and not cat.metric(col).is_axis:  # bookkeeping (train_seconds)
            continue
        if not pd.api.types.is_numeric_dtype(df[col]) or pd.api.types.is_bool_dtype(df[col]):
            continue
        if df[col].notna().any():
            out.append(str(col))
    return out


def spec_table(spec_json: str) -> list[dict[str, Any]]:
    """The ArchSpec as table rows: path, kind, output shape, quantizer, kernel, groups,
    params, weight bits, activation bits (leaf layers in execution order)."""
    from search_spaces.spec import ArchSpec

    spec = ArchSpec.from_json(spec_json)
    rows = []
    for info, row in zip(spec.iter_layers(), spec.layer_table(), strict=True):
        layer = info.layer
        quant = getattr(layer, "weight_quant", None)
        levels = getattr(layer, "weight_levels", None)
        kernel = getattr(layer, "kernel", None)
        rows.append({
            "layer": row["path"], "kind": row["kind"],
            "output shape": "x".join(str(v) for v in row["out_shape"]),
            "weights": f"{quant}/{levels}" if quant and quant != "float" else (quant or ""),
            "kernel": "x".join(map(str, kernel)) if isinstance(kernel, tuple) else (
                "" if kernel is None else str(kernel)),
            "groups": getattr(layer, "groups", "") or "",
            "params": int(row["params"]), "weight bits": int(row["weight_bits"]),
            "act bits": int(row["act_bits"]),
        })
    return rows


class _StudyCache:
    def __init__(self) -> None:
        self.frame: pd.DataFrame | None = None
        self.fetched_at = 0.0
        self.token = ""
        self.lock = threading.Lock()


class DashboardData:
    """Read-only views of one results database, cached per study, refreshed incrementally."""

    def __init__(self, url: str) -> None:
        from dse.store import open_store

        self.url = url
        self.store = open_store(url, read_only=True)
        self._caches: dict[str, _StudyCache] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ studies
    def list_studies(self) -> pd.DataFrame:
        """The store's study list (one row per study)."""
        return self.store.list_studies()

    def study_names(self) -> list[str]:
        df = self.list_studies()
        return [] if df.empty else [str(n) for n in df["name"]]

    def study(self, name: str) -> StudyInfo | None:
        """A study's definition, or None when no such study exists."""
        from dse.store import StoreError

        if not name:
            return None
        try:
            rec = self.store.get_study(name)
        except StoreError:
            return None
        return StudyInfo(name=rec.name, space=rec.space, dataset=rec.dataset,
                         objectives=_objectives(rec.objectives), budgets=_budgets(rec.budgets),
                         config=dict(rec.config or {}))

    def study_status(self, name: str) -> dict[str, Any]:
        return dict(self.store.study_status(name))

    def studies_overview(self) -> list[dict[str, Any]]:
        """One dict per study for the Studies page: definition, counts by status, best per
        objective, hypervolume, last update."""
        out = []
        for name in self.study_names():
            info = self.study(name)
            assert info is not None
            status = self.study_status(name)
            out.append({"info": info, "status": status})
        return out

    # ------------------------------------------------------------------ candidates
    def _cache(self, study: str) -> _StudyCache:
        with self._lock:
            return self._caches.setdefault(study, _StudyCache())

    def candidates(self, study: str, *, max_age_s: float = MIN_REFRESH_S) -> pd.DataFrame:
        """All candidates of ``study`` in canonical columns, refreshed incrementally when the
        cached copy is older than ``max_age_s``."""
        cache = self._cache(study)
        with cache.lock:
            if cache.frame is not None and time.monotonic() - cache.fetched_at < max_age_s:
                return cache.frame
            if cache.frame is None:
                frame = canonical_candidates(self.store.query(study))
            else:
                frame = self._refresh(study, cache.frame)
            cache.frame = frame
            cache.fetched_at = time.monotonic()
            cache.token = self._token(frame)
            return frame

    def _refresh(self, study: str, frame: pd.DataFrame) -> pd.DataFrame:
        unfinished = frame.index[~frame["status"].isin(FINAL_STATUSES)]
        if len(unfinished):
            watermark = int(unfinished.min()) - 1
        else:
            watermark = int(frame.index.max()) if len(frame) else 0
        new = self.store.query(study, since_id=watermark)
        if len(new):
            new = canonical_candidates(new)
            frame = pd.concat([frame[frame.index <= watermark], new])
            frame = frame[~frame.index.duplicated(keep="last")].sort_index()
        front = self.store.query(study, pareto_only=True, columns=["candidate_id"])
        front_ids = {int(v) for v in front["candidate_id"]}
        flags = frame.index.isin(list(front_ids))
        if not np.array_equal(flags, frame["pareto"].to_numpy(bool)):
            frame = frame.copy()
            frame["pareto"] = flags
        return frame

    @staticmethod
    def _token(frame: pd.DataFrame) -> str:
        if frame.empty:
            return "0"
        counts = frame["status"].value_counts().sort_index()
        front = tuple(frame.index[frame["pareto"]].tolist())
        last = frame["updated_at"].max() if "updated_at" in frame.columns else ""
        return f"{len(frame)}|{dict(counts)}|{hash(front)}|{last}"

    def version(self, study: str) -> str:
        """A token that changes whenever the study's candidates change (after a refresh)."""
        self.candidates(study)
        return self._cache(study).token

    def candidate(self, candidate_id: int) -> CandidateInfo | None:
        """One candidate's row, spec and per-layer hardware report, or None if unknown."""
        from dse.store import StoreError

        try:
            raw = self.store.candidate(int(candidate_id))
        except (StoreError, KeyError, LookupError):
            return None
        if raw is None:
            return None
        raw = dict(raw)
        study = str(raw.get("study") or raw.get("study_name") or "")
        hw = _loads(raw.get("hardware_report") or raw.get("hardware") or {}) or {}
        per_layer = hw.get("per_layer", []) if isinstance(hw, Mapping) else []
        layers = pd.DataFrame(per_layer)
        if not layers.empty and "layer" not in layers.columns:
            for c in ("path", "name"):
                if c in layers.columns:
                    layers = layers.rename(columns={c: "layer"})
                    break
        spec = raw.get("spec")
        spec_json = spec if isinstance(spec, str) else json.dumps(spec, sort_keys=True)
        row: dict[str, Any] = {}
        if study:
            frame = self.candidates(study)
            if int(candidate_id) in frame.index:
                row = {str(k): v for k, v in frame.loc[int(candidate_id)].items()}
        accel, searched = None, ()
        pair = raw.get("network_hash") not in (None, raw.get("spec_hash"))
        if pair and isinstance(hw, Mapping) and hw.get("accel"):
            accel = dict(hw["accel"])
            searched = tuple(k.removeprefix("accel_") for k in raw.get("choices") or {}
                             if k.startswith("accel_"))
        return CandidateInfo(candidate_id=int(candidate_id), study=study, row=row,
                             spec_json=spec_json, per_layer=layers,
                             hardware=hw.get("metrics", {}) if isinstance(hw, Mapping) else {},
                             artifacts=tuple(raw.get("artifacts") or ()), accel=accel,
                             accel_searched=searched)

    def artifact(self, candidate_id: int, name: str) -> tuple[str, bytes] | None:
        """(mime, bytes) of a candidate's artifact, or None when it has none of that name."""
        from dse.store import StoreError

        try:
            return self.store.artifact(int(candidate_id), name)  # type: ignore[no-any-return]
        except (StoreError, AttributeError):
            return None

    def epochs(self, candidate_id: int) -> pd.DataFrame:
        return self.store.epochs(int(candidate_id))

    def evaluations(self, study: str, candidate_id: int) -> pd.DataFrame:
        """The candidate's evaluations by fidelity: the search's and each ``dse train`` run
        (:meth:`dse.store.Store.evaluations`)."""
        return self.store.evaluations(study, candidate_id=int(candidate_id))

    def export_zip(self, candidate_id: int) -> tuple[str, bytes]:
        """(file name, zip bytes) of a candidate's hardware export, the bundle ``dse export``
        writes (:func:`dse.export.candidate_bundle`, default vectors and word width). A
        candidate that cannot be exported raises :class:`dse.errors.UserError`."""
        from dse.export import candidate_bundle

        study = str(self.store.candidate(int(candidate_id))["study"])
        bundle = candidate_bundle(self.store, study, int(candidate_id))
        return f"{study}-candidate-{int(candidate_id)}-export.zip", bundle.zip_bytes()

    def hypervolume_history(self, study: str) -> pd.DataFrame:
        """Hypervolume after each complete evaluation: columns ``trial``, ``time``,
        ``hypervolume`` and ``best_<objective>``."""
        hist = self.store.hypervolume_history(study)
        hist = hist.rename(columns={"trial_number": "trial", "finished_at": "time"})
        if "trial" in hist.columns:
            hist["trial"] = pd.to_numeric(hist["trial"], errors="coerce").astype(float)
        return hist


_DATA: DashboardData | None = None


def configure(url: str) -> DashboardData:
    """Open ``url`` read-only and make it the source of every page."""
    global _DATA
    _DATA = DashboardData(url)
    return _DATA


def get_data() -> DashboardData:
    """The configured source (see :func:`configure`)."""
    if _DATA is None:
        raise RuntimeError("dashboard.data.configure(url) was not called")
    return _DATA


def finite(value: Any) -> bool:
    """True for a real, finite number."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


__all__ = ["DONE_STATUSES", "CandidateInfo", "DashboardData", "StudyInfo",
           "canonical_candidates", "configure", "finite", "get_data", "numeric_axes",
           "spec_table"]

#: Period of the pages' live refresh in milliseconds (0: off); set by ``create_app``.
REFRESH_MS = 3000
