#!/usr/bin/env python3
# serve_test.py: drives the real dscoder-engine through real pipes and checks the protocol of
# dscoder-engine(1): streaming, the three request kinds, count, cancel, the queue, bad input, the
# prompt cache, and every way of ending. Usage: serve_test.py ENGINE MODELS_DIR GROUP...
# Every stdout line of every engine run must be a JSON object with an "event" key (checked as read).
import fcntl
import json
import os
import queue
import signal
import subprocess
import sys
import threading

ENGINE = None
MODELS = None
MODEL = None                # the fixture model most tests use
WAIT = 120                  # seconds: only a guard against a hung engine, never a timing check
LONG = 100000               # max_tokens of a generation that must still be running when cancelled
# A generation that runs for thousands of tokens before its EOS on tiny-ds2-full (greedy, and the
# penalty below 1 keeps it repeating itself). With the engine's stdout pipe shrunk to one page and
# the reader paused, the engine blocks in write() long before that EOS, so a cancel, count, shutdown
# or signal sent meanwhile always reaches a generation that is still running: no race with timing.
LONG_REQ = {"prompt": "a", "max_tokens": LONG, "repetition_penalty": 0.5}
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


class TestError(Exception):
    pass


class Engine:
    """One engine process; a thread reads stdout, validates each line, and queues the events."""

    def __init__(self, model=None, ctx=4096, extra=(), wait_ready=True):
        args = [ENGINE, "--model", model or MODEL, "--threads", "1"]
        if ctx:
            args += ["--ctx", str(ctx)]
        args += list(extra)
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        try:
            fcntl.fcntl(self.p.stdout.fileno(), F_SETPIPE_SZ, 4096)
        except OSError:
            pass                # a 64 KiB pipe holds ~1500 token events: LONG_REQ still outlasts it
        self.events = queue.Queue()
        self.gate = threading.Event()
        self.gate.set()
        self.hung_up = False
        self.bad_lines = []
        self.stderr = b""
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        self.e = threading.Thread(target=self._read_err, daemon=True)
        self.e.start()
        self.ready = None
        self.loading = []
        if wait_ready:
            self.wait_ready()

    def _read(self):
        while True:
            self.gate.wait()
            if self.hung_up:
                return
            raw = self.p.stdout.readline()
            if not raw:
                break
            try:
                ev = json.loads(raw.decode("utf-8", errors="strict"))
                if not isinstance(ev, dict) or not isinstance(ev.get("event"), str):
                    raise ValueError("not an object with an event key")
            except ValueError as ex:
                self.bad_lines.append((raw[:200], str(ex)))
                continue
            self.events.put(ev)
        self.events.put(None)

    def _read_err(self):
        self.stderr = self.p.stderr.read()

    def pause(self):
        """Stops reading stdout after the next line, so the engine's writes soon block."""
        self.gate.clear()

    def resume(self):
        self.gate.set()

    def hang_up(self):
        """Closes our end of the engine's stdout, as a dead TUI would. Call while paused, after
        next() returned an event (the reader thread then waits at the gate, not in a read)."""
        self.hung_up = True
        self.p.stdout.close()
        self.gate.set()

    def wait_ready(self):
        while True:
            ev = self.next()
            if ev["event"] == "loading":
                self.loading.append(ev)
                continue
            if ev["event"] != "ready":
                raise TestError("expected ready, got %r (stderr: %r)" % (ev, self.stderr[-400:]))
            self.ready = ev
            return ev

    def next(self):
        try:
            ev = self.events.get(timeout=WAIT)
        except queue.Empty:
            raise TestError("no event from the engine within %d s" % WAIT)
        if ev is None:
            raise TestError("the engine closed its stdout (stderr: %r)" % self.stderr[-400:])
        return ev

    def send(self, obj):
        line = obj if isinstance(obj, bytes) else json.dumps(obj).encode() + b"\n"
        self.p.stdin.write(line)
        self.p.stdin.flush()

    def until_done(self, rid, other=None):
        """Token text and the done event of request rid; events of other ids go to other (a list)."""
        text = ""
        while True:
            ev = self.next()
            if ev.get("id") != rid:
                if other is None:
                    raise TestError("unexpected event while waiting for %r: %r" % (rid, ev))
                other.append(ev)
                continue
            if ev["event"] == "token":
                check(isinstance(ev.get("text"), str) and ev["text"] != "", "empty token event %r" % ev)
                text += ev["text"]
            elif ev["event"] == "done":
                return text, ev
            else:
                raise TestError("request %r ended with %r" % (rid, ev))

    def close(self, expect_rc=0, how="shutdown"):
        if how == "shutdown":
            self.send({"op": "shutdown"})
        elif how == "eof":
            self.p.stdin.close()
        try:
            rc = self.p.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise TestError("the engine did not exit after %s" % how)
        self.t.join(WAIT)
        self.e.join(WAIT)
        check(rc == expect_rc, "exit status %d after %s, expected %d (stderr: %r)"
              % (rc, how, expect_rc, self.stderr[-400:]))
        check(not self.bad_lines, "stdout had lines that are not JSON events: %r" % self.bad_lines[:3])
        try:
            if not self.p.stdin.closed:
                self.p.stdin.close()
        except BrokenPipeError:
            pass
        return rc


def cli(*args, stdin=None):
    r = subprocess.run([ENGINE, "--model", MODEL, "--threads", "1"] + list(args), input=stdin,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=WAIT)
    if r.returncode != 0:
        raise TestError("%r failed: %r" % (args, r.stderr))
    return r.stdout


def tokenize(text):
    return [int(x) for x in cli("--tokenize", stdin=text.encode()).split()]


def done_fields_ok(done):
    keys = ["finish", "prompt_tokens", "completion_tokens", "cached_tokens", "ttft_ms", "prefill_tps",
            "decode_tps"]
    missing = [k for k in keys if k not in done]
    return check(not missing, "done event lacks %r: %r" % (missing, done))


# ---- groups ------------------------------------------------------------------------------------

def test_stream():
    """ready and loading; a chat answer streams and equals --generate; completion and fim too;
    count agrees with prompt_tokens and with --tokenize."""
    eng = Engine()
    r = eng.ready
    m = r.get("model", {})
    check(r.get("protocol") == 1, "ready protocol %r" % r.get("protocol"))
    for k in ("name", "n_ctx", "vocab_size", "parameters", "backend", "threads"):
        check(k in m, "ready.model lacks %r: %r" % (k, r))
    check(m.get("n_ctx") == 4096, "ready n_ctx %r, --ctx was 4096" % m.get("n_ctx"))
    check(m.get("vocab_size") == 320, "ready vocab_size %r" % m.get("vocab_size"))
    check(m.get("threads") == 1, "ready threads %r" % m.get("threads"))
    ld = eng.loading
    if check(len(ld) >= 2, "only %d loading events" % len(ld)):
        total = ld[-1]["total"]
        check(ld[-1]["done"] == total, "last loading event is not done == total: %r" % ld[-1])
        prev = 0
        for ev in ld:
            check(ev["total"] == total and prev <= ev["done"] <= total, "loading event out of order: %r" % ev)
            check(ev["done"] - prev <= total // 20 + 1, "loading jumped more than 5%%: %d -> %d of %d"
                  % (prev, ev["done"], total))
            prev = ev["done"]

    user = "write a quick sort algorithm in python."
    eng.send({"op": "generate", "id": 1, "messages": [{"role": "user", "content": user}], "max_tokens": 16})
    text, done = eng.until_done(1)
    done_fields_ok(done)
    check(done["finish"] in ("stop", "length"), "chat finish %r" % done)
    check(0 < done["completion_tokens"] <= 16, "chat completion_tokens %r" % done)
    want = cli("--generate", user, "--max-tokens", "16").decode()
    check(text + "\n" == want, "chat stream %r differs from --generate %r" % (text, want))

    eng.send({"op": "count", "id": "c1", "messages": [{"role": "user", "content": user}]})
    ev = eng.next()
    check(ev == {"event": "count", "id": "c1", "tokens": done["prompt_tokens"], "n_ctx": 4096},
          "count %r, expected tokens %d" % (ev, done["prompt_tokens"]))

    prompt = "def fibonacci(n):\n    "
    eng.send({"op": "generate", "id": 2, "prompt": prompt, "max_tokens": 12})
    text, done = eng.until_done(2)
    done_fields_ok(done)
    want = cli("--complete", prompt, "--max-tokens", "12").decode()
    check(text + "\n" == want, "completion stream %r differs from --complete %r" % (text, want))
    check(done["prompt_tokens"] == 1 + len(tokenize(prompt)),
          "completion prompt_tokens %d, expected BOS + %d" % (done["prompt_tokens"], len(tokenize(prompt))))
    eng.send({"op": "count", "id": 3, "prompt": prompt})
    ev = eng.next()
    check(ev.get("tokens") == done["prompt_tokens"], "count of a prompt %r vs %r" % (ev, done))

    pre, suf = "def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n"
    eng.send({"op": "generate", "id": 4, "fim": {"prefix": pre, "suffix": suf}, "max_tokens": 10})
    text, done = eng.until_done(4)
    done_fields_ok(done)
    want = cli("--fim-prefix", pre, "--fim-suffix", suf, "--max-tokens", "10").decode()
    check(text + "\n" == want, "fim stream %r differs from --fim %r" % (text, want))
    check(done["prompt_tokens"] == 4 + len(tokenize(pre)) + len(tokenize(suf)),
          "fim prompt_tokens %d" % done["prompt_tokens"])

    # a stop string ends the answer before it and is not sent
    eng.send({"op": "generate", "id": 5, "prompt": prompt, "max_tokens": 12})
    full, _ = eng.until_done(5)
    if len(full) >= 4:
        stop = full[2:4]
        eng.send({"op": "generate", "id": 6, "prompt": prompt, "max_tokens": 12, "stop": [stop]})
        text, done = eng.until_done(6)
        check(text == full[:full.index(stop)] and done["finish"] == "stop",
              "stop %r: got %r (%s), full answer %r" % (stop, text, done["finish"], full))
    eng.close()


def long_request(rid):
    return dict(LONG_REQ, op="generate", id=rid)


def test_cancel():
    """cancel mid-stream; count while generating; queued requests in order; a queued one cancelled."""
    eng = Engine(ctx=LONG + 512)
    eng.pause()
    eng.send(long_request(1))
    ev = eng.next()
    check(ev.get("event") == "token" and ev.get("id") == 1, "expected a token of 1, got %r" % ev)
    # while 1 runs (blocked on its full stdout): a count, more requests, and cancels
    eng.send({"op": "count", "id": 2, "messages": [{"role": "system", "content": "be brief"},
                                                  {"role": "user", "content": "hi"}]})
    eng.send({"op": "generate", "id": 3, "prompt": "x", "max_tokens": 4})
    eng.send({"op": "generate", "id": 4, "prompt": "import os\n", "max_tokens": 6})
    eng.send({"op": "generate", "id": 4, "prompt": "dup", "max_tokens": 6})
    eng.send({"op": "cancel", "id": 3})
    eng.send({"op": "cancel", "id": 999})        # unknown: ignored
    eng.send({"op": "cancel", "id": 1})
    eng.resume()
    other = []
    text, done = eng.until_done(1, other)
    text = ev["text"] + text
    check(done["finish"] == "cancel", "cancelled generation finished %r" % done)
    check(0 < done["completion_tokens"] < LONG, "cancelled after %r tokens" % done["completion_tokens"])
    check(text != "", "no text before the cancel")
    ids = [(e["event"], e.get("id")) for e in other]
    check(ids[:1] == [("count", 2)], "the count was not answered first during generation 1: %r" % other)
    check(("done", 3) in ids and ("error", 4) in ids and not any(i == 999 for _, i in ids),
          "events of other ids during 1: %r" % other)
    for e in other:
        if e.get("id") == 2:
            check(e["event"] == "count" and e["tokens"] > 0 and e["n_ctx"] == LONG + 512, "count: %r" % e)
        if e.get("id") == 3:
            check(e["event"] == "done" and e["finish"] == "cancel" and e["completion_tokens"] == 0,
                  "queued request 3 cancelled: %r" % e)
        if e["event"] == "error":
            check("already queued or running" in e.get("message", ""), "duplicate id error: %r" % e)
        check(e.get("id") != 4 or e["event"] == "error", "request 4 ran before 1 ended: %r" % e)
    text, done = eng.until_done(4)
    check(done["finish"] in ("length", "stop") and done["completion_tokens"] <= 6, "request 4: %r" % done)

    # queue order: three requests sent at once are answered one after another, in order
    for i in (10, 11, 12):
        eng.send({"op": "generate", "id": i, "prompt": "s%d" % i, "max_tokens": 3})
    for i in (10, 11, 12):
        text, done = eng.until_done(i)
        check(done["finish"] in ("length", "stop"), "queued %d: %r" % (i, done))
    eng.close()


BAD = [
    (b'{"op":"generate","id":1,', None, "malformed JSON"),
    (b'hello', None, "malformed JSON"),
    (b'[]', None, "JSON object"),
    (b'{"op":"dance","id":5}', 5, "unknown op"),
    (b'{"id":6,"prompt":"x"}', 6, "no \"op\""),
    (b'{"op":"generate","prompt":"x"}', None, "needs an \"id\""),
    (b'{"op":"generate","id":7.5,"prompt":"x"}', None, "\"id\" must be"),
    (b'{"op":"generate","id":8,"prompt":"x","max_tokens":"9"}', 8, "must be an integer"),
    (b'{"op":"generate","id":9,"prompt":"x","temperature":-1}', 9, "\"temperature\""),
    (b'{"op":"generate","id":10,"prompt":"x","top_p":7}', 10, "\"top_p\""),
    # issue 10: this request made the sampler read cand[-1] and stream garbage ids; it is refused
    # with the range every entry point shares (params_ranges), before any token
    (b'{"op":"generate","id":23,"prompt":"def add(a, b): return a + b","max_tokens":20,'
     b'"repetition_penalty":1e-40,"temperature":0.7,"top_p":0.9,"seed":1}', 23,
     "\"repetition_penalty\" is 1e-40; it must be from 0.01 to 100 (1: off)"),
    (b'{"op":"generate","id":24,"prompt":"x","temperature":1000}', 24, "it must be from 0 to 100"),
    (b'{"op":"generate","id":11,"prompt":"x","stop":"y"}', 11, "\"stop\""),
    (b'{"op":"generate","id":12,"prompt":"x","messages":[{"role":"user","content":"y"}]}', 12, "only one of"),
    (b'{"op":"generate","id":13}', 13, "needs one of"),
    (b'{"op":"generate","id":14,"messages":[{"role":"wizard","content":"y"}]}', 14, "role"),
    (b'{"op":"generate","id":15,"messages":[{"role":"user"}]}', 15, "content"),
    (b'{"op":"generate","id":16,"fim":{"prefix":"a"}}', 16, "suffix"),
    (b'{"op":"count","id":17}', 17, "needs one of"),
    (b'{"op":"cancel"}', None, "needs an \"id\""),
    (b'{"op":"generate","id":18,"prompt":"x","maxtokens":3}', 18, "unknown key"),
    (b'{"op":"generate","id":19,"prompt":"\xff\xfe"}', 19, "not valid UTF-8"),
    (b'{"op":"generate","id":20,"prompt":"\xed\xa0\x80"}', 20, "not valid UTF-8"),
    (b'{"op":"generate","id":21,"prompt":"a\\u0000b"}', 21, "U+0000"),
    (b'{"op":"generate","id":22,"prompt":"a\x00b"}', None, "malformed JSON"),
    (b'\xc3', None, "not valid UTF-8"),
]


def test_bad():
    """every bad line gets an error event (with its id when known) and the engine keeps serving."""
    eng = Engine()
    good = 1000
    for line, rid, want in BAD:
        eng.send(line + b"\n")
        ev = eng.next()
        check(ev["event"] == "error" and ev.get("id") == rid and want in ev.get("message", ""),
              "line %r: got %r, expected an error with id %r mentioning %r" % (line, ev, rid, want))
        eng.send({"op": "count", "id": good, "prompt": "ok"})
        ev = eng.next()
        check(ev.get("event") == "count" and ev.get("id") == good, "after %r: %r" % (line, ev))
        good += 1
    # blank lines are ignored; CRLF line ends are accepted
    eng.send(b"\n   \n\r\n")
    eng.send(b'{"op":"count","id":"crlf","prompt":"ok"}\r\n')
    ev = eng.next()
    check(ev.get("event") == "count" and ev.get("id") == "crlf", "after blank lines and CRLF: %r" % ev)
    # lines over 16 MiB: one without a newline inside any JSON, one that starts like a request
    for big in (b"a" * (17 << 20), b'{"op":"generate","id":77,"prompt":"' + b"b" * (16 << 20) + b'"}'):
        eng.send(big + b"\n")
        ev = eng.next()
        check(ev["event"] == "error" and "16 MiB" in ev.get("message", "") and "id" not in ev,
              "long line: %r" % ev)
        eng.send({"op": "count", "id": good, "prompt": "ok"})
        ev = eng.next()
        check(ev.get("event") == "count" and ev.get("id") == good, "after a long line: %r" % ev)
        good += 1
    # a line just under the cap is read whole (and here it is simply too long a prompt)
    eng.send({"op": "count", "id": "big", "prompt": "c" * ((16 << 20) - 64)})
    ev = eng.next()
    check(ev.get("event") == "count" and ev.get("id") == "big" and ev["tokens"] > 4096,
          "a 16 MiB count: %r" % ev)
    # the prompt does not fit: finish context, over_by, a message; nothing is cut silently
    eng.send({"op": "generate", "id": "ctx", "prompt": "x = 1\n" * 3000, "max_tokens": 4})
    text, done = eng.until_done("ctx")
    check(done["finish"] == "context" and text == "" and done["completion_tokens"] == 0, "over: %r" % done)
    check(done.get("over_by") == done["prompt_tokens"] - 4096 + 1 and "over" in done.get("message", ""),
          "over_by/message: %r" % done)
    # an answer that fills the context ends with finish context and over_by 0
    small = Engine(ctx=64)
    small.send(long_request("fill"))
    text, done = small.until_done("fill")
    check(done["finish"] == "context" and done.get("over_by") == 0 and "context" in done.get("message", "")
          and 0 < done["completion_tokens"] and done["prompt_tokens"] + done["completion_tokens"] <= 65,
          "an answer filling a context of 64: %r" % done)
    small.close()
    # and a good generate is still answered
    eng.send({"op": "generate", "id": "last", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3})
    text, done = eng.until_done("last")
    check(done["finish"] in ("length", "stop"), "generate after bad lines: %r" % done)
    eng.close()


TURNS = ["write a function that reverses a string", "now in C", "add a test", "explain it",
         "make it faster"]


def conversation(fresh, model, extra=()):
    """Runs TURNS greedily; fresh: a new engine for every turn. Returns [(answer, done)]."""
    msgs, out = [], []
    eng = None if fresh else Engine(model, extra=extra)
    for i, user in enumerate(TURNS):
        if fresh:
            eng = Engine(model, extra=extra)
        msgs.append({"role": "user", "content": user})
        eng.send({"op": "generate", "id": i, "messages": msgs, "max_tokens": 12})
        text, done = eng.until_done(i)
        out.append((text, done))
        msgs.append({"role": "assistant", "content": text})
        if fresh:
            eng.close()
    if not fresh:
        eng.close()
    return out


def test_cache():
    """greedy output is the same with and without the prompt cache; cached_tokens says what was reused."""
    for name in ("tiny-ds2-full", "tiny-ds2-lite"):
        model = os.path.join(MODELS, name)
        cold = conversation(True, model)
        warm = conversation(False, model)
        for i, ((ct, cd), (wt, wd)) in enumerate(zip(cold, warm)):
            turn = "%s turn %d" % (name, i + 1)
            check(ct == wt, "%s: fresh engine %r, cached engine %r" % (turn, ct, wt))
            check(cd["prompt_tokens"] == wd["prompt_tokens"], "%s: prompt_tokens differ" % turn)
            check(cd["cached_tokens"] == 0, "%s: a fresh engine reused %d tokens" % (turn, cd["cached_tokens"]))
            if i == 0:
                check(wd["cached_tokens"] == 0, "%s: reused %d tokens" % (turn, wd["cached_tokens"]))
            else:
                prev = warm[i - 1][1]["prompt_tokens"]
                check(prev <= wd["cached_tokens"] < wd["prompt_tokens"],
                      "%s: cached_tokens %d, expected at least the previous prompt (%d) and below %d"
                      % (turn, wd["cached_tokens"], prev, wd["prompt_tokens"]))


def until_both_done(eng, a, b):
    """The done events of requests a and b, in whichever order they come: a shutdown cancels the
    running request and the queued one together, and either may be answered first."""
    others = []
    text, done_a = eng.until_done(a, other=others)
    for ev in others:
        if ev.get("id") == b and ev["event"] == "done":
            return done_a, ev
    check(all(ev.get("id") == b for ev in others), "events of other requests: %r" % others)
    text, done_b = eng.until_done(b)
    return done_a, done_b


def test_exit():
    """EOF answers what is queued and exits 0; shutdown and SIGTERM cancel and exit 0; a closed stdout
    (the TUI died) ends the engine without a signal; a bad model is an error event and exit 1."""
    eng = Engine()
    eng.send({"op": "generate", "id": 1, "prompt": "a", "max_tokens": 3})
    eng.send({"op": "generate", "id": 2, "prompt": "b", "max_tokens": 3})
    eng.p.stdin.close()
    for i in (1, 2):
        text, done = eng.until_done(i)
        check(done["finish"] in ("length", "stop"), "request %d before EOF: %r" % (i, done))
    eng.close(0, how="wait")

    eng = Engine()
    eng.close(0, how="eof")

    eng = Engine(ctx=LONG + 512)
    eng.pause()
    eng.send(long_request(1))
    eng.send({"op": "generate", "id": 2, "prompt": "b", "max_tokens": 3})
    eng.next()
    eng.send({"op": "shutdown"})
    eng.resume()
    done1, done2 = until_both_done(eng, 1, 2)
    check(done1["finish"] == "cancel", "shutdown during a generation: %r" % done1)
    check(done2["finish"] == "cancel" and done2["completion_tokens"] == 0, "queued at shutdown: %r" % done2)
    eng.close(0, how="wait")

    for queued in (False, True):
        eng = Engine(ctx=LONG + 512)
        eng.pause()
        eng.send(long_request(1))
        if queued:
            eng.send({"op": "generate", "id": 2, "prompt": "b", "max_tokens": 3})
        eng.next()
        eng.p.send_signal(signal.SIGTERM)
        eng.resume()
        if queued:
            done1, done2 = until_both_done(eng, 1, 2)
            check(done2["finish"] == "cancel", "queued at SIGTERM: %r" % done2)
        else:
            text, done1 = eng.until_done(1)
        check(done1["finish"] == "cancel", "SIGTERM during a generation: %r" % done1)
        eng.close(0, how="wait")
    eng = Engine()
    eng.p.send_signal(signal.SIGTERM)
    eng.close(0, how="wait")

    # the reader of stdout goes away in the middle of an answer (the engine is blocked writing)
    eng = Engine(ctx=LONG + 512)
    eng.pause()
    eng.send(long_request(1))
    eng.next()
    eng.hang_up()
    try:
        rc = eng.p.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        eng.p.kill()
        raise TestError("the engine kept running after its stdout was closed")
    eng.e.join(WAIT)
    check(rc == 0, "exit status %d after stdout closed (negative: killed by a signal)" % rc)
    check(eng.stderr == b"", "stderr after EPIPE: %r" % eng.stderr)
    eng.p.stdin.close()

    eng = Engine(model=os.path.join(MODELS, "no-such-model"), wait_ready=False)
    ev = eng.next()
    check(ev["event"] == "error" and "no-such-model" in ev.get("message", ""), "bad model: %r" % ev)
    eng.close(1, how="wait")


def test_ranks():
    """--simulate-ranks N serves the split model: the same greedy conversation (with the prompt cache)
    and the same seeded answer as one rank, cancel reaches every rank, and ready names the ranks.
    --gpus without a usable GPU is an error event and exit 1."""
    seeded = {"op": "generate", "id": 90, "prompt": "def fib(n):", "max_tokens": 16, "temperature": 0.8,
              "seed": 7}
    for name in ("tiny-ds2-full", "tiny-ds2-group"):
        model = os.path.join(MODELS, name)
        one = conversation(False, model)
        eng = Engine(model)
        eng.send(seeded)
        one_seeded = eng.until_done(90)[0]
        eng.close()
        for n in (2, 4):
            run = "%s, %d ranks" % (name, n)
            split = conversation(False, model, extra=("--simulate-ranks", str(n)))
            for i, ((ot, od), (st, sd)) in enumerate(zip(one, split)):
                check(ot == st, "%s turn %d: one rank %r, split %r" % (run, i + 1, ot, st))
                check(od["cached_tokens"] == sd["cached_tokens"], "%s turn %d: cached_tokens %d, one rank %d"
                      % (run, i + 1, sd["cached_tokens"], od["cached_tokens"]))
            eng = Engine(model, ctx=LONG + 512, extra=("--simulate-ranks", str(n)))
            backend = eng.ready["model"].get("backend")
            check(backend == "cpu, %d simulated ranks" % n, "%s: ready names the backend %r" % (run, backend))
            eng.send(seeded)
            got = eng.until_done(90)[0]
            check(got == one_seeded, "%s: seeded answer %r, one rank %r" % (run, got, one_seeded))
            eng.pause()
            eng.send(long_request(91))
            ev = eng.next()
            check(ev.get("event") == "token", "%s: expected a token, got %r" % (run, ev))
            eng.send({"op": "cancel", "id": 91})
            eng.resume()
            done = eng.until_done(91)[1]
            check(done["finish"] == "cancel", "%s: the cancelled request finished %r" % (run, done))
            eng.send({"op": "generate", "id": 92, "prompt": "x", "max_tokens": 3})
            check(eng.until_done(92)[1]["completion_tokens"] == 3, "%s: no answer after a cancel" % run)
            eng.close()

    eng = Engine(extra=("--gpus", "1"), wait_ready=False)
    ev = eng.next()
    while ev["event"] == "loading":
        ev = eng.next()
    if ev["event"] == "ready":      # a machine with a GPU and NCCL: the one-GPU NCCL path answers
        eng.send({"op": "generate", "id": 1, "prompt": "x", "max_tokens": 3})
        check(eng.until_done(1)[1]["completion_tokens"] == 3, "--gpus 1 did not answer")
        eng.close()
    else:
        check(ev["event"] == "error" and "--gpus 1" in ev.get("message", ""), "--gpus 1: %r" % ev)
        eng.close(1, how="wait")


GROUPS = {"stream": test_stream, "cancel": test_cancel, "bad": test_bad, "cache": test_cache,
          "exit": test_exit, "ranks": test_ranks}


def main():
    global ENGINE, MODELS, MODEL
    if len(sys.argv) < 4:
        print("usage: serve_test.py ENGINE MODELS_DIR GROUP...", file=sys.stderr)
        return 2
    ENGINE, MODELS = sys.argv[1], sys.argv[2]
    MODEL = os.path.join(MODELS, "tiny-ds2-full")
    for g in sys.argv[3:]:
        try:
            GROUPS[g]()
        except (TestError, BrokenPipeError) as ex:
            fail("%s: %s" % (g, ex))
    if failures:
        print("%d failures" % len(failures), file=sys.stderr)
        return 1
    print("ok: " + " ".join(sys.argv[3:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
