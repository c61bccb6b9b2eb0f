#!/usr/bin/env python3
# remote_test.py: dscoder-engine --remote URL end to end, through real pipes: against the real
# dscoder-engine --serve on the demo model (answers equal the local engine's, streaming, cancel, FIM,
# count, keys) and against tests/fault_server.py, a server that fails on purpose in the ways real
# ones do (429 with Retry-After, 5xx, a stream cut mid-answer, garbage, silence).
# Usage: remote_test.py ENGINE MODEL_DIR GROUP...   (groups: serve, faults)
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

ENGINE = None
MODEL = None
HERE = os.path.dirname(os.path.abspath(__file__))
WAIT = 120                  # seconds: only a guard against a hang, never a timing check
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def check(cond, msg):
    if not cond:
        fail(msg)
    else:
        print("ok   " + msg.split(":")[0])
    return cond


class Pipe:
    """One engine process speaking the JSON-lines protocol; a thread queues its events."""

    def __init__(self, args, env=None):
        self.p = subprocess.Popen([ENGINE] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env)
        self.events = queue.Queue()
        self.stderr = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self):
        for raw in self.p.stdout:
            ev = json.loads(raw)
            assert isinstance(ev, dict) and "event" in ev, raw
            self.events.put(ev)
        self.events.put(None)

    def _read_err(self):
        for raw in self.p.stderr:
            self.stderr.append(raw.decode(errors="replace"))

    def next(self):
        ev = self.events.get(timeout=WAIT)
        if ev is None:
            raise EOFError("the engine closed its stdout")
        return ev

    def first(self):
        """The ready event, or the error event of a failed start."""
        while True:
            ev = self.next()
            if ev["event"] in ("ready", "error"):
                return ev

    def send(self, obj):
        self.p.stdin.write((json.dumps(obj) + "\n").encode())
        self.p.stdin.flush()

    def answer(self, rid, on_token=None):
        """(text, done-or-error event) of request rid."""
        text = ""
        while True:
            ev = self.next()
            if ev.get("id") != rid:
                continue
            if ev["event"] == "token":
                text += ev["text"]
                if on_token:
                    on_token(text)
            elif ev["event"] in ("done", "error", "count"):
                return text, ev

    def close(self):
        try:
            self.send({"op": "shutdown"})
        except BrokenPipeError:
            pass
        try:
            rc = self.p.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = -9
        return rc


class Server:
    """A process listening on 127.0.0.1:0 that prints its port: dscoder-engine --serve or fault_server.py."""

    def __init__(self, args, ready_re):
        self.p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        self.port = None
        deadline = time.time() + WAIT
        for raw in self.p.stderr:
            line = raw.decode(errors="replace")
            m = re.search(r"listening on http://[^:]+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
            if re.search(ready_re, line):
                break
            if time.time() > deadline:
                break
        if self.port is None:
            raise RuntimeError("the server did not say where it listens")
        threading.Thread(target=lambda: [None for _ in self.p.stderr], daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.port

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            self.p.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.p.kill()


def serve(*extra):
    return Server([ENGINE, "--serve", "127.0.0.1:0", "--model", MODEL, "--threads", "1", "--slots", "2"] +
                  list(extra), r"ready:")


CHAT = {"messages": [{"role": "system", "content": "You are terse."},
                     {"role": "user", "content": "Write a C function that adds two ints."}],
        "max_tokens": 24}
COMPLETION = {"prompt": "def fib(n):\n", "max_tokens": 16}
FIM = {"fim": {"prefix": "def add(a, b):\n    ", "suffix": "\n\nprint(add(1, 2))\n"}, "max_tokens": 12}


def run_all(pipe, reqs):
    out = []
    for i, r in enumerate(reqs):
        rid = "r%d" % i
        pipe.send(dict(r, op="generate", id=rid))
        out.append(pipe.answer(rid))
    return out


def test_serve():
    # the local engine's greedy answers, the reference
    local = Pipe(["--model", MODEL, "--threads", "1"])
    check(local.first()["event"] == "ready", "the local engine starts")
    want = run_all(local, [CHAT, COMPLETION, FIM])
    local.close()

    srv = serve()
    try:
        remote = Pipe(["--remote", srv.url])
        ready = remote.first()
        check(ready["event"] == "ready" and ready["model"]["backend"] == "remote" and
              ready["model"]["path"] == srv.url and ready["model"]["name"] == "dscoder-demo",
              "ready names the endpoint, the model and backend remote: %s" % ready)
        got = run_all(remote, [CHAT, COMPLETION, FIM])
        for (wt, wd), (gt, gd), kind in zip(want, got, ["chat", "completion", "fim"]):
            check(gd["event"] == "done" and gt == wt,
                  "%s through --remote equals the local answer: local %r, remote %r (%s)" % (kind, wt, gt, gd))
            check(gd.get("completion_tokens") == wd.get("completion_tokens") and
                  gd.get("prompt_tokens") == wd.get("prompt_tokens") and gd.get("finish") == wd.get("finish"),
                  "%s usage and finish as the local engine's: %s vs %s" % (kind, gd, wd))
        # count without a local tokenizer: an estimate, marked so
        remote.send({"op": "count", "id": "c1", "messages": CHAT["messages"]})
        _, c = remote.answer("c1")
        check(c["event"] == "count" and c.get("estimate") is True and c["tokens"] > 0,
              "count without --model is an estimate, marked so: %s" % c)
        # cancel mid-stream: a long answer, cancelled after its first tokens
        remote.send({"op": "generate", "id": "long", "prompt": "a", "max_tokens": 100000,
                     "repetition_penalty": 0.5})
        sent = []

        def on_token(text):
            if not sent:
                sent.append(1)
                remote.send({"op": "cancel", "id": "long"})
        text, d = remote.answer("long", on_token)
        check(d["event"] == "done" and d["finish"] == "cancel" and len(text) > 0,
              "cancel closes the stream: finish cancel after some text: %s" % d)
        # and the server is free again: the next request is answered
        got2 = run_all(remote, [COMPLETION])
        check(got2[0][0] == want[1][0], "after a cancel the next request is answered as before")
        check(remote.close() == 0, "shutdown exits 0")

        # with --model beside --remote, count is the local tokenizer's, exact
        remote = Pipe(["--remote", srv.url, "--model", MODEL])
        remote.first()
        remote.send({"op": "count", "id": "c2", "messages": CHAT["messages"]})
        _, c = remote.answer("c2")
        check(c["event"] == "count" and "estimate" not in c and c["tokens"] == want[0][1]["prompt_tokens"],
              "count with --model is the local tokenizer's: %s, want %d" % (c, want[0][1]["prompt_tokens"]))
        remote.close()

        # fill-in-the-middle at an address of its own (DeepSeek's API keeps it under /beta): a URL with a
        # path is the API's base as given, and only FIM goes there
        remote = Pipe(["--remote", srv.url, "--remote-fim-url", srv.url + "/v1/"])
        remote.first()
        got3 = run_all(remote, [FIM, CHAT])
        check(got3[0][0] == want[2][0] and got3[1][0] == want[0][0],
              "FIM through --remote-fim-url and chat through --remote equal the local answers: %r" % (got3,))
        remote.close()
        remote = Pipe(["--remote", srv.url, "--remote-fim-url", "http://127.0.0.1:9/beta"])
        remote.first()
        got4 = run_all(remote, [FIM, COMPLETION])
        check(got4[0][1]["event"] == "error" and "cannot connect to http://127.0.0.1:9/beta" in got4[0][1]["message"],
              "FIM goes to --remote-fim-url, and its sentence names that address: %s" % (got4[0][1],))
        check(got4[1][1]["event"] == "done" and got4[1][0] == want[1][0],
              "a completion still goes to --remote: %s" % (got4[1][1],))
        check(remote.close() == 0, "shutdown exits 0")

        # the server killed mid-answer: an error event for the request, partial text kept by the TUI
        remote = Pipe(["--remote", srv.url])
        remote.first()
        remote.send({"op": "generate", "id": "cut", "prompt": "a", "max_tokens": 100000,
                     "repetition_penalty": 0.5})
        killed = []

        def kill_server(text):
            if not killed:
                killed.append(1)
                srv.stop(signal.SIGKILL)
        text, e = remote.answer("cut", kill_server)
        check(e["event"] == "error" and "partial answer is kept" in e["message"] and len(text) > 0,
              "a server killed mid-answer: one sentence for the request, after the partial text: %s" % e)
        remote.send({"op": "generate", "id": "after", **COMPLETION})
        _, e = remote.answer("after")
        check(e["event"] == "error" and "cannot connect" in e["message"],
              "a server that is gone: 'cannot connect': %s" % e)
        check(remote.close() == 0, "the remote engine outlives its server and exits 0")
    finally:
        srv.stop()


def test_keys():
    with tempfile.TemporaryDirectory() as tmp:
        keyf = os.path.join(tmp, "server.key")
        with open(keyf, "w") as f:
            f.write("s3cret-key-4711\n")
        wrongf = os.path.join(tmp, "wrong.key")
        with open(wrongf, "w") as f:
            f.write("not-the-key\n")
        srv = serve("--api-key-file", keyf)
        try:
            # the right key from a file, and from a variable
            for args, env in ((["--api-key-file", keyf], None),
                              (["--api-key-env", "DS_TEST_KEY"], dict(os.environ, DS_TEST_KEY="s3cret-key-4711"))):
                p = Pipe(["--remote", srv.url] + args, env=env)
                ev = p.first()
                if check(ev["event"] == "ready", "the right key (%s) is accepted: %s" % (args[0], ev)):
                    got = run_all(p, [COMPLETION])
                    check(got[0][1]["event"] == "done", "an answer with the key: %s" % (got[0][1],))
                    check("s3cret" not in " ".join(p.stderr), "the key never reaches stderr")
                p.close()
            # a wrong key: one sentence naming where the key came from, and exit 1
            p = Pipe(["--remote", srv.url, "--api-key-env", "DS_TEST_KEY"],
                     env=dict(os.environ, DS_TEST_KEY="wrong"))
            ev = p.first()
            check(ev["event"] == "error" and "401" in ev["message"] and "DS_TEST_KEY" in ev["message"]
                  and "wrong" not in ev["message"].replace("DS_TEST_KEY", ""),
                  "a wrong key: 401 naming the variable, never the key: %s" % ev)
            check(p.p.wait(timeout=WAIT) == 1, "a refused key exits 1")
            p = Pipe(["--remote", srv.url, "--api-key-file", wrongf])
            ev = p.first()
            check(ev["event"] == "error" and "401" in ev["message"] and wrongf in ev["message"]
                  and "not-the-key" not in ev["message"],
                  "a wrong key file: 401 naming the file, never the key: %s" % ev)
            p.p.wait(timeout=WAIT)
            p = Pipe(["--remote", srv.url, "--api-key-env", "DS_TEST_UNSET_VAR"])
            ev = p.first()
            check(ev["event"] == "error" and "DS_TEST_UNSET_VAR" in ev["message"] and "not set" in ev["message"],
                  "an unset key variable is named: %s" % ev)
            p.p.wait(timeout=WAIT)
            # a model the server does not have
            p = Pipe(["--remote", srv.url, "--api-key-file", keyf, "--remote-model", "no-such-model"])
            ev = p.first()
            check(ev["event"] == "error" and "no-such-model" in ev["message"],
                  "an unknown --remote-model is named: %s" % ev)
            p.p.wait(timeout=WAIT)
            # two sources of the key: refused before anything is sent, one sentence, exit 1
            r = subprocess.run([ENGINE, "--remote", srv.url, "--api-key-file", keyf, "--api-key-env", "DS_TEST_KEY"],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=WAIT,
                               env=dict(os.environ, DS_TEST_KEY="s3cret-key-4711"))
            err = r.stderr.strip()
            check(r.returncode == 1 and "--api-key-env" in err and "--api-key-file" in err
                  and "s3cret" not in err and err.count("\n") == 0,
                  "--api-key-env with --api-key-file: one sentence, exit 1: %d %r" % (r.returncode, err))
        finally:
            srv.stop()


def fault_server():
    return Server([sys.executable, os.path.join(HERE, "fault_server.py")], r"listening")


def test_faults():
    srv = fault_server()
    try:
        def one(model, req, extra=()):
            p = Pipe(["--remote", srv.url, "--remote-model", model] + list(extra))
            ev = p.first()
            if ev["event"] != "ready":
                fail("the fault server's %s model: %s" % (model, ev))
                p.close()
                return "", ev
            p.send(dict(req, op="generate", id=1))
            out = p.answer(1)
            check(p.close() == 0, "the engine keeps serving after %s and exits 0" % model)
            return out

        text, e = one("ok", CHAT)
        check(e["event"] == "done" and text == "Hello, world!" and e["completion_tokens"] == 4 and
              e["prompt_tokens"] == 17, "an ordinary stream with usage: %r %s" % (text, e))
        text, e = one("ok", COMPLETION)
        check(e["event"] == "done" and text == "Hello, world!", "a completion stream: %r %s" % (text, e))
        text, e = one("cut", CHAT)
        check(e["event"] == "error" and text == "Hello," and "partial answer is kept" in e["message"],
              "a stream cut in the middle keeps the partial answer: %r %s" % (text, e))
        text, e = one("busy", CHAT)
        check(e["event"] == "error" and "429" in e["message"] and "retry in 7 s" in e["message"],
              "429 with Retry-After: %s" % e)
        text, e = one("fail", CHAT)
        check(e["event"] == "error" and "HTTP 500" in e["message"] and "the model fell over" in e["message"],
              "5xx with the server's own message: %s" % e)
        text, e = one("garbage", CHAT)
        check(e["event"] == "error" and "not JSON" in e["message"], "an event that is not JSON: %s" % e)
        text, e = one("error-event", CHAT)
        check(e["event"] == "error" and "out of memory on the server" in e["message"] and text == "Hel",
              "an error object inside the stream: %s" % e)
        text, e = one("length", COMPLETION)
        check(e["event"] == "done" and e["finish"] == "length", "finish_reason length: %s" % e)
        # a server that goes silent mid-stream: cut after the idle timeout... tested with cancel instead,
        # which must not wait for the silence to end
        p = Pipe(["--remote", srv.url, "--remote-model", "silent"])
        p.first()
        p.send(dict(CHAT, op="generate", id=2))
        t0 = time.time()
        text, e = p.answer(2, lambda t: p.send({"op": "cancel", "id": 2}))
        check(e["event"] == "done" and e["finish"] == "cancel" and time.time() - t0 < 30,
              "cancel ends a silent stream: %s" % e)
        p.close()
        # TLS to a plain-HTTP port: one sentence about TLS
        p = Pipe(["--remote", srv.url.replace("http://", "https://")])
        ev = p.first()
        check(ev["event"] == "error" and "TLS" in ev["message"], "https to a plain server: a TLS sentence: %s" % ev)
        p.p.wait(timeout=WAIT)
    finally:
        srv.stop()
    # nothing listening at all
    p = Pipe(["--remote", "http://127.0.0.1:9"])
    ev = p.first()
    check(ev["event"] == "error" and "cannot connect" in ev["message"], "nobody listening: %s" % ev)
    check(p.p.wait(timeout=WAIT) == 1, "a remote that cannot be reached at start exits 1")
    p = Pipe(["--remote", "ftp://example.org"])
    ev = p.first()
    check(ev["event"] == "error" and "http://" in ev["message"], "a URL that is not http(s): %s" % ev)
    p.p.wait(timeout=WAIT)


def main():
    global ENGINE, MODEL
    ENGINE, MODEL = sys.argv[1], sys.argv[2]
    groups = {"serve": test_serve, "keys": test_keys, "faults": test_faults}
    for g in sys.argv[3:]:
        try:
            groups[g]()
        except Exception as e:          # a hang or a crash is a failure, never a skip
            fail("%s: %s: %s" % (g, type(e).__name__, e))
    print("%d failure(s)" % len(failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
