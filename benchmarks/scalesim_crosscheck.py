"""Cross-check the simulator's stall-free compute cycles against SCALE-Sim 3.0.0.

For each array shape and dataflow, the same layer set is run by SCALE-Sim (in its own venv,
created under /tmp on first use: ``pip install scalesim==3.0.0 "numpy<2.3"``) and by our fast
engine configured as a plain systolic array (``hwmodel.accel.STALL_FREE`` with the shape and
dataflow). The script prints every layer's cycles side by side, the mismatches and the
wall-time ratio, and with ``--write-docs`` replaces the ``scalesim_crosscheck`` section of
docs/benchmarks.md.

SCALE-Sim's COMPUTE_REPORT.csv has "Total Cycles (incl. prefetch)" (the first fill of its
scratchpads from DRAM added) and "Total Cycles" (compute, stall-free here as the bandwidth is
CALC-ulated): we compare the latter.

SCALE-Sim has no grouped convolution: a layer of g groups is given to it as g layers of
Cin/g channels and Cout/g filters (depthwise: g = Cin layers of one channel and one filter),
and their cycles are summed; we run it as one op of g products. Layer names avoid "DP", which
SCALE-Sim would split per channel on its own.

    .venv/bin/python benchmarks/scalesim_crosscheck.py [--venv DIR] [--write-docs]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwmodel.accel import STALL_FREE  # noqa: E402
from hwmodel.sim.engine_fast import simulate_product  # noqa: E402
from hwmodel.sim.mapping import Product, operand_dims  # noqa: E402

DEFAULT_VENV = Path(tempfile.gettempdir()) / "tinydse-scalesim-venv"
ARRAYS = ((8, 8), (4, 16), (16, 4))
DATAFLOWS = ("ws", "os", "is")


@dataclass(frozen=True)
class Layer:
    """A convolution as SCALE-Sim sees it: the ifmap includes the padding."""

    name: str
    ifmap_h: int
    ifmap_w: int
    filt_h: int
    filt_w: int
    channels: int
    filters: int
    stride: int
    groups: int = 1

    def out_px(self) -> int:
        """SCALE-Sim's output size ceil((H - F + S) / S) per axis."""
        ho = math.ceil((self.ifmap_h - self.filt_h + self.stride) / self.stride)
        wo = math.ceil((self.ifmap_w - self.filt_w + self.stride) / self.stride)
        return ho * wo

    def scalesim_rows(self) -> list[str]:
        """Topology CSV rows (one per group), trailing comma included."""
        c, m = self.channels // self.groups, self.filters // self.groups
        names = [self.name] if self.groups == 1 else [f"{self.name}_g{i}"
                                                      for i in range(self.groups)]
        return [f"{n},{self.ifmap_h},{self.ifmap_w},{self.filt_h},{self.filt_w},{c},{m},"
                f"{self.stride}," for n in names]


LAYERS = (
    Layer("res3x3", 10, 10, 3, 3, 16, 16, 1),          # ResNet basic-block conv, 8x8 + pad 1
    Layer("res3x3s2odd", 11, 11, 3, 3, 8, 16, 2),      # stride 2 on an odd map
    Layer("stem7x7s2", 22, 22, 7, 7, 3, 16, 2),        # ResNet-style stem
    Layer("pw1x1", 8, 8, 1, 1, 32, 24, 1),             # pointwise
    Layer("pw1x1s2", 9, 9, 1, 1, 16, 32, 2),           # strided 1x1 shortcut, odd map
    Layer("k5s3", 14, 14, 5, 5, 3, 8, 3),              # odd kernel and stride
    Layer("depthwise3x3", 10, 10, 3, 3, 8, 8, 1, groups=8),
    Layer("grouped3x3g2", 10, 10, 3, 3, 8, 8, 1, groups=2),
    Layer("fc64to10", 1, 1, 1, 1, 64, 10, 1),          # a linear layer as a 1x1 conv
)

DRIVER = r'''
import json, os, sys, time, tempfile, csv
from scalesim.scale_sim import scalesim
job = json.load(open(sys.argv[1]))
out = {"runs": []}
for run in job["runs"]:
    d = tempfile.mkdtemp(prefix="scalesim_")
    cfg = os.path.join(d, "cfg.cfg"); topo = os.path.join(d, "topo.csv")
    lay = os.path.join(d, "layout.csv")
    open(cfg, "w").write(run["config"])
    open(topo, "w").write(run["topology"])
    open(lay, "w").write(run["layout"])
    t0 = time.perf_counter()
    s = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=lay)
    s.run_scale(top_path=d)
    wall = time.perf_counter() - t0
    rep = None
    for root, _, files in os.walk(d):
        if "COMPUTE_REPORT.csv" in files:
            rep = os.path.join(root, "COMPUTE_REPORT.csv")
    table = list(csv.reader(open(rep)))
    col = [h.strip() for h in table[0]].index("Total Cycles")  # not "(incl. prefetch)"
    cycles = {}
    names = [l.split(",")[0] for l in run["topology"].splitlines()[1:] if l.strip()]
    for name, row in zip(names, table[1:]):
        cycles[name] = int(float(row[col]))
    out["runs"].append({"key": run["key"], "cycles": cycles, "wall_s": wall})
json.dump(out, open(sys.argv[2], "w"))
'''

CONFIG = """[general]
run_name = crosscheck_{rows}x{cols}_{df}

[architecture_presets]
ArrayHeight = {rows}
ArrayWidth = {cols}
IfmapSramSzkB = 1024
FilterSramSzkB = 1024
OfmapSramSzkB = 1024
IfmapOffset = 0
FilterOffset = 10000000
OfmapOffset = 20000000
Bandwidth = 10
Dataflow = {df}
ReadRequestBuffer = 32
WriteRequestBuffer = 32

[layout]
IfmapCustomLayout = False
IfmapSRAMBankBandwidth = 10
IfmapSRAMBankNum = 10
IfmapSRAMBankPort = 2
FilterCustomLayout = False
FilterSRAMBankBandwidth = 10
FilterSRAMBankNum = 10
FilterSRAMBankPort = 2

[sparsity]
SparsitySupport = false
SparseRep = ellpack_block
OptimizedMapping = false
BlockSize = 8
RandomNumberGeneratorSeed = 40

[run_presets]
InterfaceBandwidth = CALC
UseRamulatorTrace = False
"""

TOPO_HEADER = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
               "Num Filter, Strides,")


def ensure_venv(venv: Path) -> Path:
    """The SCALE-Sim venv's python, created on first use."""
    py = venv / "bin" / "python"
    if not py.exists():
        print(f"creating {venv} (pip install scalesim==3.0.0 'numpy<2.3') ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "scalesim==3.0.0", "numpy<2.3"],
                       check=True)
    return py


def run_scalesim(py: Path) -> tuple[dict[str, dict[str, int]], float]:
    """SCALE-Sim's per-layer compute cycles for every (array, dataflow) key, and its wall time
    (simulation calls only, not the interpreter start)."""
    runs = []
    for rows, cols in ARRAYS:
        for df in DATAFLOWS:
            topo = "\n".join([TOPO_HEADER] + [r for layer in LAYERS
                                              for r in layer.scalesim_rows()]) + "\n"
            names = [line.split(",")[0] for line in topo.splitlines()[1:]]
            layout = ("Layer name," + ",".join(f"x{i}" for i in range(20)) + ",\n"
                      + "".join(f"{n}," + ",".join("1" for _ in range(20)) + ",\n"
                                for n in names))
            runs.append({"key": f"{rows}x{cols}-{df}", "topology": topo, "layout": layout,
                         "config": CONFIG.format(rows=rows, cols=cols, df=df)})
    with tempfile.TemporaryDirectory() as d:
        job, res, drv = (os.path.join(d, n) for n in ("job.json", "out.json", "driver.py"))
        Path(job).write_text(json.dumps({"runs": runs}))
        Path(drv).write_text(DRIVER)
        subprocess.run([str(py), drv, job, res], check=True, cwd=d, stdout=subprocess.DEVNULL)
        out = json.loads(Path(res).read_text())
    cycles: dict[str, dict[str, int]] = {}
    wall = 0.0
    for run in out["runs"]:
        per_layer: dict[str, int] = {}
        for layer in LAYERS:
            names = ([layer.name] if layer.groups == 1 else
                     [f"{layer.name}_g{i}" for i in range(layer.groups)])
            per_layer[layer.name] = sum(run["cycles"][n] for n in names)
        cycles[run["key"]] = per_layer
        wall += run["wall_s"]
    return cycles, wall


def ours(layer: Layer, rows: int, cols: int, df: str) -> int:
    """Our stall-free compute cycles for one layer (fast engine, g products)."""
    window = layer.filt_h * layer.filt_w * (layer.channels // layer.groups)
    sr, sc, t = operand_dims(layer.out_px(), layer.filters // layer.groups, window, df)
    accel = STALL_FREE.with_(rows=rows, cols=cols, dataflow=df)
    return simulate_product(Product(sr, sc, t, count=layer.groups), accel).cycles


def run_ours(repeat: int) -> tuple[dict[str, dict[str, int]], float]:
    """Our cycles for every key and layer, and the wall time of one full pass (best of
    ``repeat`` passes)."""
    cycles: dict[str, dict[str, int]] = {}
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for rows, cols in ARRAYS:
            for df in DATAFLOWS:
                cycles[f"{rows}x{cols}-{df}"] = {layer.name: ours(layer, rows, cols, df)
                                                 for layer in LAYERS}
        best = min(best, time.perf_counter() - t0)
    return cycles, best


def render(peer: dict[str, dict[str, int]], mine: dict[str, dict[str, int]], peer_s: float,
           mine_s: float, command: str) -> str:
    keys = list(peer)
    mismatches = [(k, n) for k in keys for n in peer[k] if peer[k][n] != mine[k][n]]
    total_cycles = sum(sum(v.values()) for v in peer.values())
    lines = [
        f"Command: `{command}`  ",
        f"SCALE-Sim 3.0.0 (numpy<2.3, own venv) vs `hwmodel.sim` fast engine on "
        f"`STALL_FREE` with the same array and dataflow; {len(LAYERS)} layers x "
        f"{len(ARRAYS)} arrays x {len(DATAFLOWS)} dataflows = {len(LAYERS) * len(keys)} "
        "cases (grouped layers: SCALE-Sim runs g layers, summed). Both sides use SCALE-Sim's "
        "output size ceil((H - F + S)/S) with the padding in the ifmap (it counts a last, "
        "partial window: stem7x7s2 has 9x9 outputs where floor((H - F)/S) + 1 gives 8x8; "
        "tests/hwmodel/test_sim_scalesim_table.py replays this table through ArchSpecs, "
        "giving such a layer one more input row and column).",
        "",
        f"**Mismatches: {len(mismatches)}** of {len(LAYERS) * len(keys)}"
        + ("" if not mismatches else " — " + ", ".join(f"{k}/{n}" for k, n in mismatches)),
        "",
        f"**Wall time**: SCALE-Sim {peer_s:.2f} s for {total_cycles:,} simulated cycles "
        f"({total_cycles / peer_s:,.0f} cycles/s); ours {mine_s * 1e3:.2f} ms for the same "
        f"cases: **{peer_s / mine_s:,.0f}x faster**.",
        "",
        "| layer | " + " | ".join(f"{k} SCALE-Sim / ours" for k in keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for layer in LAYERS:
        cells = []
        for k in keys:
            a, b = peer[k][layer.name], mine[k][layer.name]
            cells.append(f"{a} / {b}" + ("" if a == b else " **≠**"))
        lines.append(f"| {layer.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_docs(section: str, name: str = "scalesim_crosscheck") -> None:
    """Replace (or append) this benchmark's section of docs/benchmarks.md."""
    from benchmarks._docs import write_section

    write_section(name, f"## SCALE-Sim cross-check (`{name}`)\n\n{section}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV,
                    help=f"SCALE-Sim venv (created if missing; default {DEFAULT_VENV})")
    ap.add_argument("--write-docs", action="store_true",
                    help="replace the scalesim_crosscheck section of docs/benchmarks.md")
    args = ap.parse_args()
    py = ensure_venv(args.venv)
    peer, peer_s = run_scalesim(py)
    mine, mine_s = run_ours(repeat=20)
    command = "python benchmarks/scalesim_crosscheck.py" + (
        f" --venv {args.venv}" if args.venv != DEFAULT_VENV else "") + " --write-docs"
    section = render(peer, mine, peer_s, mine_s, command)
    print(section)
    if args.write_docs:
        write_docs(section)
    return 0 if all(peer[k] == mine[k] for k in peer) else 1


if __name__ == "__main__":
    sys.exit(main())
