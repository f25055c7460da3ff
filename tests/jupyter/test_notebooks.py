"""Every notebook of notebooks/ runs headless on the lunet kernel through
Jupyter's own tool, `jupyter nbconvert --to notebook --execute`, in smoke
mode (LUNET_SMOKE=1: one epoch per fit), in a temporary folder. Checked in
the executed notebook: every code cell ran, no error output, figures shown
inline as PNG (and saved), the accuracy printed by the progress bars and
the evaluations returned as cell results."""
import base64
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import kernel_harness as H

try:
    import nbconvert  # noqa: F401
except ImportError:
    print("SKIPPED: nbconvert is not installed (Debian: jupyter-nbconvert)")
    sys.exit(H.SKIP)

suite = H.Suite()
tmp = H.install_spec()
NOTEBOOKS = sorted(glob.glob(os.path.join(H.SOURCE, "notebooks", "*.ipynb")))
PNG = b"\x89PNG\r\n\x1a\n"


def outputs(nb, kind):
    return [o for c in nb["cells"] if c["cell_type"] == "code"
            for o in c.get("outputs", []) if o["output_type"] == kind]


def joined(v):
    return "".join(v) if isinstance(v, list) else v


def run_notebook(path):
    work = tempfile.mkdtemp(dir=tmp)
    shutil.copy(path, work)
    name = os.path.basename(path)
    env = dict(os.environ, LUNET_SMOKE="1")
    proc = subprocess.run([sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute",
                           "--ExecutePreprocessor.timeout=900", "--output", "executed.ipynb",
                           name], cwd=work, env=env, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stderr[-4000:]
    with open(os.path.join(work, "executed.ipynb")) as f:
        return json.load(f), work


def check(path):
    nb, work = run_notebook(path)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c.get("execution_count") for c in code), "a cell did not run"
    errors = outputs(nb, "error")
    assert not errors, [e["ename"] + ": " + e["evalue"] for e in errors]
    pngs = [base64.b64decode(joined(o["data"]["image/png"])) for o in outputs(nb, "display_data")
            if "image/png" in o["data"]]
    assert pngs and all(p[:8] == PNG for p in pngs), "no inline PNG"
    saved = glob.glob(os.path.join(work, "**", "*.png"), recursive=True)
    assert len(saved) >= len(pngs), saved
    text = "".join(joined(o["text"]) for o in outputs(nb, "stream"))
    assert re.search(r"accuracy: 0\.\d{4}", text), "no accuracy printed"
    results = [joined(o["data"].get("text/plain", "")) for o in outputs(nb, "execute_result")]
    evals = [r for r in results if re.fullmatch(r"[\d.e-]+\t0\.\d+", r)]
    assert evals, "no evaluate() result"
    return nb, saved


for path in NOTEBOOKS:
    def notebook(path=path):
        nb, saved = check(path)
        if os.path.basename(path).startswith("11_"):
            names = sorted(os.path.basename(p) for p in saved)
            for fig in ("sigmoid_saturation_plot.png", "keras_learning_curves_plot.png",
                        "optimizers_mnist.png"):
                assert fig in names, names
    notebook.__name__ = "notebook_" + os.path.basename(path)
    suite.test(notebook)

if not NOTEBOOKS:
    print("FAIL no notebooks found in", os.path.join(H.SOURCE, "notebooks"))
    suite.failed += 1
suite.finish(tmp)
