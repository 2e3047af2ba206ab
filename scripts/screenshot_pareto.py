"""Make ``docs/pareto.png``: run a real small search, serve the dashboard over its database
and photograph the Pareto page in headless Chromium.

    .venv/bin/python scripts/screenshot_pareto.py            # ~3 min on 2 CPU cores
    .venv/bin/python scripts/screenshot_pareto.py --db sqlite:///dse.db --study demo

With ``--db`` and an existing ``--study`` no search is run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run_search(url: str, study: str, trials: int, epochs: int, batches: int) -> None:
    dse = Path(sys.executable).with_name("dse")
    cmd = [str(dse), "search", "--study", study, "--space", "tiny", "--dataset", "digits",
           "--objectives", "accuracy,memory_bits", "--trials", str(trials), "--epochs",
           str(epochs), "--max-train-batches", str(batches), "--executor", "local",
           "--seed", "0", "--db", url, "--quiet"]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def serve(url: str) -> tuple[str, object]:
    from werkzeug.serving import make_server

    from dashboard.app import create_app

    app = create_app(url, refresh_ms=0)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def screenshot(base: str, study: str, out: Path, width: int, height: int) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.support.ui import WebDriverWait

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}", "--hide-scrollbars"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options)
    try:
        driver.get(f"{base}/study/{study}/pareto?color=cycles")
        WebDriverWait(driver, 60).until(lambda d: d.execute_script(
            "const g = document.querySelector('#pareto-graph .js-plotly-plot');"
            "return g && g._fullData && g._fullData.length > 0 && "
            "document.querySelector('#pareto-count-front') !== null;"))
        time.sleep(1.0)  # let Plotly finish its transitions
        out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(out))
    finally:
        driver.quit()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=None, help="existing results database (skip the search "
                    "when --study is already in it)")
    ap.add_argument("--study", default="pareto-demo")
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--max-train-batches", type=int, default=15)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "pareto.png")
    ap.add_argument("--size", default="1400x1250", help="window WIDTHxHEIGHT")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'search.db'}"
        have = False
        if args.db:
            from dse.store import StoreError, open_store

            try:
                with open_store(url, read_only=True) as store:
                    have = args.study in set(store.list_studies()["name"])
            except StoreError:
                have = False
        if not have:
            run_search(url, args.study, args.trials, args.epochs, args.max_train_batches)
        base, server = serve(url)
        w, h = (int(v) for v in args.size.split("x"))
        screenshot(base, args.study, args.out, w, h)
        server.shutdown()  # type: ignore[attr-defined]
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
