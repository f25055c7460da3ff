"""Bad messages and the kernel's life cycle: a wrong HMAC signature, broken
JSON, an unknown message type, a huge request, stray frames -- refused or
answered with an error, never a crash; stop_on_error aborts queued cells;
shutdown (also while a cell runs) and restart."""
import json
import os
import time

import zmq
from jupyter_client.session import Session

import kernel_harness as H

suite = H.Suite()
tmp = H.install_spec()
K = H.Kernel()
info = K.km.get_connection_info()
KEY = info["key"] if isinstance(info["key"], bytes) else info["key"].encode()
ctx = zmq.Context.instance()


def dealer(channel):
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect("%s://%s:%d" % (info["transport"], info["ip"], info[channel + "_port"]))
    return s


def frames(msg_type, content, key=KEY, raw_content=None, raw_header=None):
    """The frames of a message (signed with key), optionally with a raw,
    possibly broken, header or content."""
    session = Session(key=key)
    msg = session.msg(msg_type, content)
    parts = [raw_header if raw_header is not None else session.pack(msg["header"]),
             b"{}", b"{}",
             raw_content if raw_content is not None else session.pack(content)]
    return [b"<IDS|MSG>", session.sign(parts)] + parts


def reply_of(sock, timeout=10.0):
    """The (header, content) of the next message on sock, or None."""
    if not sock.poll(int(timeout * 1000)):
        return None
    parts = sock.recv_multipart()
    i = parts.index(b"<IDS|MSG>")
    return json.loads(parts[i + 2]), json.loads(parts[i + 5])


def alive():
    r, outs = K.run("1 + 1", timeout=30)
    assert r["status"] == "ok" and H.text(outs, "execute_result") == "2", (r, outs)


@suite.test
def wrong_signature_refused():
    s = dealer("shell")
    good = frames("execute_request", {"code": "pwned = true", "silent": False})
    bad = list(good)
    bad[1] = b"0" * 64  # a signature of the right length, wrong value
    s.send_multipart(bad)
    bad[1] = b"deadbeef"  # the wrong length
    s.send_multipart(bad)
    s.send_multipart(frames("execute_request", {"code": "pwned = true"}, key=b"other key"))
    assert reply_of(s, 2.0) is None  # refused: no reply, nothing run
    alive()
    _, outs = K.run("pwned == nil")
    assert H.text(outs, "execute_result") == "true", outs
    s.close()


@suite.test
def malformed_json_answered():
    s = dealer("shell")
    s.send_multipart(frames("execute_request", {}, raw_content=b"{not json"))
    h, c = reply_of(s)
    assert h["msg_type"] == "execute_reply" and c["status"] == "error", (h, c)
    assert c["ename"] == "BadRequest" and "content is not valid JSON" in c["evalue"], c
    s.send_multipart(frames("execute_request", {}, raw_content=b"[1, 2]"))
    assert reply_of(s)[1]["ename"] == "BadRequest"
    s.send_multipart(frames("execute_request", {"silent": False}))  # no code
    assert "without code" in reply_of(s)[1]["evalue"]
    s.send_multipart(frames("complete_request", {"code": 5}))
    assert reply_of(s)[1]["status"] == "error"
    # a header that is not JSON cannot be answered: dropped
    s.send_multipart(frames("execute_request", {"code": "1"}, raw_header=b"\xff\xfe"))
    s.send_multipart(frames("execute_request", {"code": "1"}, raw_header=b"{}"))
    assert reply_of(s, 2.0) is None
    alive()
    s.close()


@suite.test
def unknown_message_type_answered():
    for channel in ("shell", "control"):
        s = dealer(channel)
        s.send_multipart(frames("frobnicate_request", {"x": 1}))
        h, c = reply_of(s)
        assert h["msg_type"] == "frobnicate_reply", h
        assert c["status"] == "error" and c["ename"] == "UnknownMessageType", c
        s.send_multipart(frames("some_event", {}))  # not a request: ignored
        assert reply_of(s, 1.0) is None
        s.close()
    alive()


@suite.test
def huge_and_stray_messages():
    s = dealer("shell")
    code = "x = 1 --" + "a" * (70 << 20)
    s.send_multipart(frames("execute_request", {"code": code}))
    h, c = reply_of(s, 60.0)
    assert h["msg_type"] == "execute_reply" and c["status"] == "error", (h, c)
    assert "more than the kernel accepts" in c["evalue"], c
    for junk in ([b"hello"], [b"<IDS|MSG>"], [b"a", b"b", b"c"], [b""] * 5000):
        s.send_multipart(junk)
    assert reply_of(s, 1.0) is None
    s.close()
    alive()


@suite.test
def stop_on_error_aborts_queued_cells():
    kc = K.kc
    # the first cell fails after the second has surely arrived
    first = kc.execute("local t = ln.time()\nwhile ln.time() - t < 0.5 do end\nerror('fails')")
    second = kc.execute("ran_second = true")
    replies = {}
    while len(replies) < 2:
        m = kc.get_shell_msg(timeout=H.TIMEOUT)
        replies[m["parent_header"]["msg_id"]] = m["content"]
    assert replies[first]["status"] == "error", replies
    assert replies[second]["status"] == "aborted", replies
    _, outs = K.run("ran_second == nil")
    assert H.text(outs, "execute_result") == "true", outs


def exit_status(km, timeout):
    """The kernel process's exit status, waiting up to timeout seconds."""
    proc = km.provisioner.process
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return proc.returncode
        time.sleep(0.05)
    return None


@suite.test
def restart_gives_a_fresh_state():
    K.run("before_restart = 1")
    pid = K.km.provisioner.pid
    K.km.restart_kernel(now=False)
    K.kc.wait_for_ready(timeout=H.TIMEOUT)
    assert K.km.provisioner.pid != pid
    _, outs = K.run("before_restart == nil and ln ~= nil")
    assert H.text(outs, "execute_result") == "true", outs


@suite.test
def shutdown_exits_cleanly():
    k = H.Kernel()
    km = k.km
    k.kc.shutdown()  # shutdown_request on the control channel
    assert exit_status(km, 10) == 0
    k.close()
    # also while a cell runs
    k = H.Kernel()
    km = k.km
    k.kc.execute("while true do end")
    time.sleep(0.3)
    k.kc.shutdown()
    assert exit_status(km, 10) == 0
    k.close()


K.close()
suite.finish(tmp)
