"""The lunet kernel through jupyter_client (Jupyter's own client): kernel
info, cells (results, streams, errors, locals that live on), rich output
(inline PNG, progress bars), interrupts (a fit stops at a batch boundary and
the model stays usable), completion, inspection, is_complete, stdin,
history and user expressions."""
import base64
import os
import re
import threading
import time

import kernel_harness as H

suite = H.Suite()
tmp = H.install_spec()
K = H.Kernel()


@suite.test
def kernel_info():
    c = K.request(lambda kc: kc.kernel_info())["content"]
    assert c["status"] == "ok", c
    assert c["protocol_version"] == "5.3", c
    assert c["implementation"] == "lunet", c
    assert c["language_info"]["name"] == "lua", c
    assert c["language_info"]["file_extension"] == ".lua", c


@suite.test
def expression_result():
    r, outs = K.run("1 + 2")
    assert r["status"] == "ok", r
    res = [c for t, c in outs if t == "execute_result"]
    assert len(res) == 1 and res[0]["data"]["text/plain"] == "3", outs
    assert res[0]["execution_count"] == r["execution_count"], (res, r)
    r2, _ = K.run("4")
    assert r2["execution_count"] == r["execution_count"] + 1, (r, r2)
    # several values, tab-separated as the Lua prompt prints them; floats as Python's repr
    _, outs = K.run("1, 0.1 + 0.2, 'x'")
    assert H.text(outs, "execute_result") == "1\t0.30000000000000004\tx", outs
    # a statement shows nothing, a trailing ';' hides a value
    for code in ("x_unused = 5", "ln.zeros{2};", "print"):
        _, outs = K.run(code)
        assert (code == "print") == bool(H.text(outs, "execute_result")), (code, outs)


@suite.test
def stream_output():
    _, outs = K.run("print('hello', 42)\nio.write('a', 1, '\\n')\nio.stderr:write('warn\\n')")
    out = "".join(c["text"] for t, c in outs if t == "stream" and c["name"] == "stdout")
    err = "".join(c["text"] for t, c in outs if t == "stream" and c["name"] == "stderr")
    assert out == "hello\t42\na1\n", repr(out)
    assert err == "warn\n", repr(err)
    # text overwritten by "\r" or erased by "\b" is dropped before it is sent
    # (the "\r" stays: the front end also overwrites what it already shows)
    _, outs = K.run("io.write('abc\\rxyz\\n12\\b3\\n')")
    assert H.text(outs) == "\rxyz\n13\n", repr(H.text(outs))
    # output of child processes and of C code reaches the cell too
    _, outs = K.run("os.execute('echo from-a-child')")
    assert "from-a-child\n" in H.text(outs), outs


@suite.test
def error_keeps_kernel_alive():
    r, outs = K.run("local function inner() error('boom') end\ninner()")
    assert r["status"] == "error" and r["ename"] == "LuaError", r
    n = r["execution_count"]
    assert r["evalue"] == "In[%d]:1: boom" % n, r["evalue"]
    tb = "\n".join(r["traceback"])
    assert "stack traceback:" in tb and "In[%d]:2: in main chunk" % n in tb, tb
    assert re.search(r"In\[%d\]:1: in (local|function) 'inner'" % n, tb), tb
    assert "jupyter.lua" not in tb, tb  # the kernel's own frames are left out
    errs = [c for t, c in outs if t == "error"]
    assert errs and errs[0]["ename"] == "LuaError", outs
    # an error raised inside lunet names the cell's line once
    r, _ = K.run("x = 1\nln.layers.Dense{1, foo = 2}")
    n = r["execution_count"]
    assert r["evalue"] == "In[%d]:2: Dense: unknown keyword argument 'foo'" % n, r["evalue"]
    assert r["evalue"].count("In[") == 1, r["evalue"]
    r, outs = K.run("1 + 1")
    assert r["status"] == "ok" and H.text(outs, "execute_result") == "2", (r, outs)
    r, _ = K.run("x = = 1")
    assert r["status"] == "error" and r["ename"] == "SyntaxError", r
    r, _ = K.run("error({})")  # a non-string error value
    assert r["status"] == "error" and "table value" in r["evalue"], r


@suite.test
def locals_live_on_and_last_expression():
    K.run("local kept = 20\nlocal function twice(v) return 2 * v end")
    _, outs = K.run("twice(kept) + 1")
    assert H.text(outs, "execute_result") == "41", outs
    _, outs = K.run("local t = {}\nt.x = 5\nt.x *\n  2")
    assert H.text(outs, "execute_result") == "10", outs
    _, outs = K.run("local v = 3\nreturn v, v + 1")
    assert H.text(outs, "execute_result") == "3\t4", outs


@suite.test
def rich_output_png_and_text():
    png = os.path.join(tmp, "curve.png")
    r, outs = K.run("ln.plot.lines{filename = %r, series = {{y = {1, 3, 2}}}}" % png)
    assert r["status"] == "ok", r
    shown = [c for t, c in outs if t == "display_data"]
    assert len(shown) == 1, outs
    data = base64.b64decode(shown[0]["data"]["image/png"])
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    with open(png, "rb") as f:
        assert f.read() == data  # the file is written too, the same image
    _, outs = K.run("ln.tensor({{1, 2}, {3, 4}})")
    assert "tensor([[1., 2.]," in H.text(outs, "execute_result"), outs
    _, outs = K.run("ln.display.show('shown as text')")
    assert any(t == "display_data" and c["data"]["text/plain"] == "shown as text"
               for t, c in outs), outs


SETUP = """
ln.random.seed(1)
X = ln.randn{%d, 32}
y = X:narrow(2, 1, 1):reshape{%d}:gt(0):float()
model = ln.Sequential{ln.layers.Dense{64, activation = "relu", input_shape = {32}},
                      ln.layers.Dense{1, activation = "sigmoid"}}
model:compile{loss = "binary_crossentropy", optimizer = "sgd", metrics = {"accuracy"}}
"""


@suite.test
def progress_bars():
    K.run(SETUP % (640, 640))
    r, outs = K.run("model:fit(X, y, {epochs = 3, verbose = 2});")
    out = H.text(outs)
    assert r["status"] == "ok", r
    for e in (1, 2, 3):
        assert "Epoch %d/3\n" % e in out, out
    lines = re.findall(r"^20/20 - \d+s - loss: [\d.]+ - accuracy: [\d.]+$", out, re.M)
    assert len(lines) == 3, out
    # verbose = 1: the bar is redrawn in place (a notebook cell is a terminal)
    _, outs = K.run("model:fit(X, y, {epochs = 1, verbose = 1});")
    out = H.text(outs)
    assert "20/20 [==============================] - " in out, repr(out)
    assert "\r" in out, repr(out)
    _, outs = K.run("model:summary()")
    assert "Total params: 2,177" in H.text(outs), outs


@suite.test
def interrupt_fit_at_batch_boundary():
    K.run(SETUP % (20000, 20000))
    msg_id = K.kc.execute("h = model:fit(X, y, {epochs = 1000, verbose = 2})")
    # wait until training runs, then interrupt as Jupyter does (SIGINT)
    deadline = time.time() + H.TIMEOUT
    while time.time() < deadline:
        m = K.kc.get_iopub_msg(timeout=H.TIMEOUT)
        if m["msg_type"] == "stream" and "Epoch 2/1000" in m["content"]["text"]:
            break
    K.km.interrupt_kernel()
    reply = None
    while reply is None:
        m = K.kc.get_shell_msg(timeout=H.TIMEOUT)
        if m["parent_header"].get("msg_id") == msg_id:
            reply = m["content"]
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt", reply
    got = re.match(r"fit stopped in epoch (\d+)/1000 after batch (\d+)/(\d+);", reply["evalue"])
    assert got, reply["evalue"]
    epoch, batch, steps = (int(g) for g in got.groups())
    assert steps == 625 and epoch >= 2 and 0 <= batch <= steps, reply["evalue"]
    # the model took exactly the batches done, and it stays usable
    r, outs = K.run("model.optimizer.iterations")
    assert H.text(outs, "execute_result") == str((epoch - 1) * steps + batch), (r, outs)
    r, outs = K.run("model:fit(X, y, {epochs = 1, verbose = 0})\n"
                    "local loss, acc = model:evaluate(X, y, {verbose = 0})\n"
                    "loss == loss and acc > 0.5")
    assert r["status"] == "ok" and H.text(outs, "execute_result") == "true", (r, outs)


@suite.test
def interrupt_lua_loop():
    threading.Timer(0.5, K.km.interrupt_kernel).start()
    r, _ = K.run("local n = 0\nwhile true do n = n + 1 end")
    assert r["status"] == "error" and r["ename"] == "KeyboardInterrupt", r
    r, outs = K.run("'alive'")
    assert H.text(outs, "execute_result") == "alive", outs


def complete(code, cursor=None):
    c = K.request(lambda kc: kc.complete(code, cursor))["content"]
    assert c["status"] == "ok", c
    return c


@suite.test
def completion():
    c = complete("ln.la")
    assert "layers" in c["matches"], c
    assert (c["cursor_start"], c["cursor_end"]) == (3, 5), c
    assert "Dense" in complete("ln.layers.De")["matches"]
    assert "SGD" in complete("ln.optimizers.")["matches"]
    assert "plot" in complete("ln.")["matches"]  # modules not loaded yet
    K.run("tt = ln.zeros{2, 3}")
    m = complete("tt:res")["matches"]
    assert "reshape" in m, m
    assert "sum" in complete("tt:")["matches"]
    m = complete("local my_long_name = 1\nprint(my_lo")["matches"]
    assert m == ["my_long_name"], m
    K.run("local kept_value = 3")
    assert complete("kept_v")["matches"] == ["kept_value"]
    assert "model" in complete("mod")["matches"]
    m = complete("model:fi")["matches"]
    assert "fit" in m, m
    # cursor positions count code points, not bytes
    code = "-- 한국어 주석\nln.la"
    c = complete(code, len(code))
    assert c["matches"] == ["layers"] and c["cursor_start"] == len(code) - 2, c


def inspect(code, cursor=None):
    c = K.request(lambda kc: kc.inspect(code, cursor if cursor is not None else len(code)))
    c = c["content"]
    assert c["status"] == "ok", c
    return c


@suite.test
def inspection():
    c = inspect("ln.layers.Dense")
    assert c["found"], c
    t = c["data"]["text/plain"]
    assert "densely connected" in t and "units  (required)" in t, t
    assert 'activation = "linear"' in t and 'kernel_initializer = "glorot_uniform"' in t, t
    t = inspect("ln.optimizers.SGD{")["data"]["text/plain"]
    assert "learning_rate = 0.01" in t and "momentum = 0" in t, t
    t = inspect("model:fit", 7)["data"]["text/plain"]
    assert "fit(x, y, {batch_size = 32" in t, t
    t = inspect("model")["data"]["text/plain"]
    assert "Total params" in t, t
    assert not inspect("no_such_name")["found"]
    # inspecting a layer class does not use up the names models get
    _, outs = K.run("ln.layers.BatchNormalization{}.name")
    before = H.text(outs, "execute_result")
    inspect("ln.layers.BatchNormalization")
    _, outs = K.run("ln.layers.BatchNormalization{}.name")
    m = re.match(r"batch_normalization(?:_(\d+))?$", before)
    n = int(m.group(1) or 0)
    assert H.text(outs, "execute_result") == "batch_normalization_%d" % (n + 1), outs


@suite.test
def is_complete():
    def status(code):
        return K.request(lambda kc: kc.is_complete(code))["content"]
    assert status("x = 1")["status"] == "complete"
    s = status("for i = 1, 3 do")
    assert s["status"] == "incomplete" and s["indent"] == "  ", s
    assert status("x = = 1")["status"] == "invalid"
    assert status("s = [[ long")["status"] == "incomplete"


@suite.test
def stdin_input():
    def answer(msg):
        assert msg["content"]["prompt"] == ""
        K.kc.input("typed text")
    r, outs = K.run("local line = io.read()\nline .. '!'", allow_stdin=True, stdin_hook=answer)
    assert r["status"] == "ok" and H.text(outs, "execute_result") == "typed text!", (r, outs)
    r, _ = K.run("io.read()", allow_stdin=False)
    assert r["status"] == "error" and "allow_stdin" in r["evalue"], r


@suite.test
def history_comm_info_user_expressions():
    assert K.request(lambda kc: kc.history())["content"]["status"] == "ok"
    assert K.request(lambda kc: kc.comm_info())["content"]["comms"] == {}
    r = K.request(lambda kc: kc.execute("answer = 42",
                                        user_expressions={"a": "answer + 1", "b": "nope("}))
    ue = r["content"]["user_expressions"]
    assert ue["a"]["status"] == "ok" and ue["a"]["data"]["text/plain"] == "43", ue
    assert ue["b"]["status"] == "error" and ue["b"]["ename"] == "SyntaxError", ue


K.close()
suite.finish(tmp)
