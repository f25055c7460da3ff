"""The Jupyter kernel's two speed targets, measured side by side in one run
(fresh processes, interleaved, medians of -r repeats):

  startup  Jupyter starting a kernel to the reply of its first cell (`1+1`):
           lunet-kernel against IPython (ipykernel, `python3`), through the
           same jupyter_client calls.
  fit      bench/jupyter_fit.lua (experiment 1, fit timed inside) run as a
           script by `lunet` and as a notebook cell on lunet-kernel, with the
           progress bar redrawn in place (verbose 1) and one line per epoch
           (verbose 2): the kernel must not slow training.

  hooks    epochs with and without lunet.display's front-end hooks attached,
           alternated in one `lunet` process (BENCH_AB of jupyter_fit.lua):
           what the kernel adds to fit's hot path, without process noise.

Usage: /usr/bin/python3 bench/bench_jupyter.py [-r REPEAT] [startup] [fit] [hooks]
Needs the lunet kernel spec installed (`lunet kernel install --user`, or
JUPYTER_PATH) and, for the startup comparison, python3-ipykernel."""
import argparse
import os
import re
import statistics
import subprocess
import time

import jupyter_client

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LUNET = os.environ.get("LUNET", os.path.join(ROOT, "build", "bin", "lunet"))
WORKLOAD = os.path.join(ROOT, "bench", "jupyter_fit.lua")
ENV = {"OMP_WAIT_POLICY": "passive"}


def start(name, env=None):
    km = jupyter_client.KernelManager(kernel_name=name)
    km.start_kernel(env=dict(os.environ, **ENV, **(env or {})))
    kc = km.client()
    kc.start_channels()
    return km, kc


def first_cell(name):
    t0 = time.perf_counter()
    km, kc = start(name)
    msg_id = kc.execute("1+1")
    while kc.get_shell_msg(timeout=120)["parent_header"].get("msg_id") != msg_id:
        pass
    dt = time.perf_counter() - t0
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    return dt


def fit_in_kernel(verbose):
    km, kc = start("lunet", {"BENCH_VERBOSE": str(verbose)})
    kc.wait_for_ready(timeout=120)
    out = []
    with open(WORKLOAD) as f:
        code = f.read()
    kc.execute_interactive(code, timeout=3600, output_hook=lambda m: out.append(
        m["content"].get("text", "")) if m["msg_type"] == "stream" else None)
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    return parse("".join(out))


def fit_in_script(verbose):
    r = subprocess.run([LUNET, WORKLOAD], capture_output=True, text=True,
                       env=dict(os.environ, **ENV, BENCH_VERBOSE=str(verbose)))
    return parse(r.stdout)


def parse(text):
    m = re.search(r"FIT_SECONDS ([\d.]+) loss ([\d.]+)", text)
    if not m:
        raise SystemExit("no FIT_SECONDS in:\n" + text[-2000:])
    return float(m.group(1)), m.group(2)


def load():
    return os.getloadavg()[0]


def report(title, rows, base):
    print(title)
    med = {k: statistics.median(v) for k, v in rows.items()}
    for k, v in rows.items():
        print("  %-28s median %7.3f s  min %7.3f  (%s)  ratio to %s: %.3f" % (
            k, med[k], min(v), " ".join("%.3f" % x for x in v), base, med[k] / med[base]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-r", type=int, default=5)
    ap.add_argument("what", nargs="*", default=["startup", "fit", "hooks"])
    a = ap.parse_args()
    print("load average at start: %.2f" % load())
    if "startup" in a.what:
        rows = {"lunet-kernel": [], "ipykernel (python3)": []}
        for _ in range(a.r):
            rows["lunet-kernel"].append(first_cell("lunet"))
            rows["ipykernel (python3)"].append(first_cell("python3"))
        report("kernel start -> first cell's reply", rows, "ipykernel (python3)")
    if "fit" in a.what:
        rows = {"script (lunet)": [], "cell, verbose 1": [], "cell, verbose 2": []}
        losses = set()
        for _ in range(a.r):
            for key, fn in (("script (lunet)", lambda: fit_in_script(2)),
                            ("cell, verbose 1", lambda: fit_in_kernel(1)),
                            ("cell, verbose 2", lambda: fit_in_kernel(2))):
                secs, loss = fn()
                rows[key].append(secs)
                losses.add(loss)
        report("fit, experiment 1 (seconds inside fit)", rows, "script (lunet)")
        print("  final losses (must be one value): %s" % ", ".join(sorted(losses)))
    if "hooks" in a.what:
        r = subprocess.run([LUNET, WORKLOAD], capture_output=True, text=True,
                           env=dict(os.environ, **ENV, BENCH_AB=str(2 * a.r - 1)))
        m = re.search(r"AB_SECONDS .*", r.stdout)
        print("one epoch of fit, medians of %d each, alternated in one process:" % (2 * a.r - 1))
        print("  " + (m.group(0) if m else "no AB_SECONDS in:\n" + r.stdout + r.stderr))
    print("load average at end: %.2f" % load())


if __name__ == "__main__":
    main()
