"""Installing the kernel: `lunet kernel install` (--prefix, --user), the
spec `cmake --install` writes (the installed kernel then runs a cell), what
`jupyter kernelspec list` shows, and clear errors for bad arguments or a bad
connection file."""
import json
import os
import shutil
import subprocess
import tempfile

import kernel_harness as H

suite = H.Suite()
tmp = tempfile.mkdtemp(prefix="lunet-install-")
os.environ["JUPYTER_RUNTIME_DIR"] = os.path.join(tmp, "runtime")
KERNEL = os.path.join(H.BUILD, "bin", "lunet-kernel")


def run(args, env=None):
    return subprocess.run(args, capture_output=True, text=True, timeout=H.TIMEOUT,
                          env=dict(os.environ, **(env or {})))


def spec_in(share):
    folder = os.path.join(share, "jupyter", "kernels", "lunet")
    with open(os.path.join(folder, "kernel.json")) as f:
        spec = json.load(f)
    for logo in ("logo-32x32.png", "logo-64x64.png"):
        with open(os.path.join(folder, logo), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", logo
    return spec


@suite.test
def install_prefix():
    r = run([H.LUNET, "kernel", "install", "--prefix", tmp + "/p"])
    assert r.returncode == 0, r.stderr
    assert "Installed the lunet kernel spec in" in r.stdout, r.stdout
    spec = spec_in(tmp + "/p/share")
    assert spec["argv"] == [os.path.realpath(KERNEL), "-f", "{connection_file}"], spec
    assert spec["language"] == "lua" and spec["interrupt_mode"] == "signal", spec


@suite.test
def install_user():
    r = run([H.LUNET, "kernel", "install", "--user"], {"JUPYTER_DATA_DIR": tmp + "/user"})
    assert r.returncode == 0, r.stderr
    assert os.path.exists(tmp + "/user/kernels/lunet/kernel.json")
    r = run([H.LUNET, "kernel", "install", "--user"],
            {"JUPYTER_DATA_DIR": "", "XDG_DATA_HOME": "", "HOME": tmp + "/home"})
    assert r.returncode == 0, r.stderr
    spec_in(tmp + "/home/.local/share")


@suite.test
def kernelspec_list_shows_lunet():
    jupyter = shutil.which("jupyter-kernelspec")
    if not jupyter:
        print("  (jupyter-kernelspec is not installed: only the Python API is checked)")
    else:
        r = run([jupyter, "list"], {"JUPYTER_PATH": tmp + "/p/share/jupyter"})
        assert r.returncode == 0 and "lunet" in r.stdout, r.stdout + r.stderr
    from jupyter_client.kernelspec import KernelSpecManager
    os.environ["JUPYTER_PATH"] = tmp + "/p/share/jupyter"
    specs = KernelSpecManager().get_all_specs()
    assert specs["lunet"]["spec"]["display_name"] == "lunet (Lua 5.4)", specs


@suite.test
def cmake_install_spec_runs():
    if not shutil.which("cmake"):
        print("  (cmake is not installed)")
        return
    prefix = tmp + "/installed"
    r = run(["cmake", "--install", H.BUILD, "--prefix", prefix])
    assert r.returncode == 0, r.stderr
    spec = spec_in(prefix + "/share")
    assert spec["argv"][0] == prefix + "/bin/lunet-kernel", spec
    os.environ["JUPYTER_PATH"] = prefix + "/share/jupyter"
    k = H.Kernel()
    try:
        r, outs = k.run("ln.version, ln.zeros{3}:numel()")
        assert r["status"] == "ok", r
        assert H.text(outs, "execute_result").endswith("\t3"), outs
    finally:
        k.close()


@suite.test
def bad_arguments_and_connection_files():
    r = run([H.LUNET, "kernel", "install", "--bogus"])
    assert r.returncode == 2 and "usage: lunet kernel install" in r.stderr, r.stderr
    r = run([KERNEL])
    assert r.returncode == 2 and "usage: lunet-kernel" in r.stderr, r.stderr
    r = run([KERNEL, "-f", tmp + "/missing.json"])
    assert r.returncode == 1 and "cannot read the connection file" in r.stderr, r.stderr
    bad = tmp + "/bad.json"
    with open(bad, "w") as f:
        json.dump({"transport": "tcp", "ip": "127.0.0.1", "key": "k",
                   "signature_scheme": "hmac-md5", "shell_port": 1, "iopub_port": 2,
                   "stdin_port": 3, "control_port": 4, "hb_port": 5}, f)
    r = run([KERNEL, "-f", bad])
    assert r.returncode == 1 and "hmac-md5" in r.stderr, r.stderr
    with open(bad, "w") as f:
        json.dump({"transport": "tcp", "ip": "127.0.0.1", "shell_port": 70000}, f)
    r = run([KERNEL, "-f", bad])
    assert r.returncode == 1 and "shell_port" in r.stderr, r.stderr


suite.finish(tmp)
