"""Shared by the Jupyter tests (run by CTest with /usr/bin/python3).

Installs lunet's kernel spec with `lunet kernel install --prefix <tmp>` (the
user's command) and points Jupyter at it (JUPYTER_PATH), so every test goes
through the installed spec. Without jupyter_client the tests exit with
SKIP (77), which CTest reports as skipped.
"""
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

SKIP = 77

try:
    import jupyter_client  # noqa: F401
    from jupyter_client.manager import KernelManager
except ImportError:
    print("SKIPPED: jupyter_client is not installed (Debian: python3-jupyter-client)")
    sys.exit(SKIP)

BUILD = os.environ.get("LUNET_BUILD_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
SOURCE = os.environ.get("LUNET_SOURCE_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
LUNET = os.path.join(BUILD, "bin", "lunet")
TIMEOUT = 120


def install_spec():
    """`lunet kernel install --prefix tmp`; returns the temporary folder."""
    tmp = tempfile.mkdtemp(prefix="lunet-jupyter-")
    out = subprocess.run([LUNET, "kernel", "install", "--prefix", tmp],
                         capture_output=True, text=True, timeout=TIMEOUT)
    if out.returncode != 0:
        raise SystemExit("lunet kernel install failed: " + out.stderr)
    os.environ["JUPYTER_PATH"] = os.path.join(tmp, "share", "jupyter")
    # connection files go there too, not in a HOME that may not be writable
    os.environ["JUPYTER_RUNTIME_DIR"] = os.path.join(tmp, "runtime")
    return tmp


class Kernel:
    """A started lunet kernel with a blocking client."""

    def __init__(self, env=None):
        self.km = KernelManager(kernel_name="lunet")
        kw = {"env": dict(os.environ, **env)} if env else {}
        self.km.start_kernel(**kw)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=TIMEOUT)

    def run(self, code, timeout=TIMEOUT, **kw):
        """Executes code; returns (reply content, [(msg_type, content)] of
        the cell's IOPub messages other than status)."""
        outs = []

        def hook(msg):
            if msg["msg_type"] not in ("status", "execute_input"):
                outs.append((msg["msg_type"], msg["content"]))
        reply = self.kc.execute_interactive(code, timeout=timeout, output_hook=hook, **kw)
        return reply["content"], outs

    def request(self, send, timeout=TIMEOUT):
        """Sends with send(client) -> msg_id; returns the shell reply."""
        msg_id = send(self.kc)
        deadline = time.time() + timeout
        while time.time() < deadline:
            msg = self.kc.get_shell_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg
        raise AssertionError("no reply")

    def close(self):
        try:
            self.kc.stop_channels()
        finally:
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=True)
            # collected now, not while the interpreter exits (noisy __del__)
            self.kc = self.km = None
            gc.collect()


def text(outs, msg_type="stream"):
    """The text of a cell's stream outputs, or its result's text/plain."""
    if msg_type == "stream":
        return "".join(c["text"] for t, c in outs if t == "stream")
    return "".join(c["data"].get("text/plain", "") for t, c in outs if t == msg_type)


class Suite:
    """Runs test functions in order; prints and counts failures."""

    def __init__(self):
        self.failed = 0
        self.passed = 0

    def test(self, fn):
        name = fn.__name__
        t0 = time.time()
        try:
            fn()
            self.passed += 1
            print("ok   %s (%.1fs)" % (name, time.time() - t0), flush=True)
        except Exception:
            self.failed += 1
            print("FAIL %s" % name, flush=True)
            traceback.print_exc()
        return fn

    def finish(self, tmp=None):
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        print("%d passed, %d failed" % (self.passed, self.failed))
        sys.exit(1 if self.failed else 0)
