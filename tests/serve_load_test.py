#!/usr/bin/env python3
"""serve_load_test.py: dscoder-engine --serve under concurrent clients (run by tests/serve-load.sh).

same:  16 clients at once, each a greedy stream whose text must equal the same request run alone.
load:  N requests from 32 clients, chat and completions, whole and streamed, with random cancels (a
       client that closes its socket before or during the answer): every request is answered in full
       or was cancelled by its client, the server stays up, its in-flight count returns to 0 and its
       resident memory stays flat (after a warm-up round).
usage: serve_load_test.py PORT PID same|load [N]
"""
import http.client
import json
import random
import socket
import sys
import threading
import time

port, pid, what = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL " + msg, flush=True)


def request(path, body, timeout=60):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    return c, r


def stream_text(path, body):
    """The text of a streamed answer, checking the SSE framing and [DONE]."""
    c, r = request(path, dict(body, stream=True))
    if r.status != 200:
        raise RuntimeError("status %d: %s" % (r.status, r.read()[:200]))
    text, done, finish = [], False, None
    for raw in r:
        line = raw.decode().rstrip("\n")
        if not line.startswith("data: "):
            continue
        data = line[6:]
        if data == "[DONE]":
            done = True
            break
        chunk = json.loads(data)
        if "error" in chunk:
            raise RuntimeError("error event: %s" % data)
        for ch in chunk["choices"]:
            text.append(ch["delta"].get("content", "") if "delta" in ch else ch["text"])
            finish = ch["finish_reason"] or finish
    c.close()
    if not done or finish is None:
        raise RuntimeError("the stream ended without a finish_reason and [DONE]")
    return "".join(text)


def health():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/health")
    h = json.loads(c.getresponse().read())
    c.close()
    return h


def rss_kb():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def prompts(n):
    topics = ["quick sort", "binary search", "a linked list", "fizzbuzz", "merge sort", "a stack",
              "reverse a string", "a queue", "fibonacci", "bubble sort", "a hash map", "factorial",
              "gcd", "a binary tree", "is prime", "palindromes"]
    out = []
    for i in range(n):
        t = topics[i % len(topics)]
        if i % 2 == 0:
            out.append(("/v1/chat/completions", {"messages": [{"role": "user", "content": "write %s in python." % t}],
                                                 "max_tokens": 24, "temperature": 0}))
        else:
            out.append(("/v1/completions", {"prompt": "# %s\ndef " % t, "max_tokens": 24, "temperature": 0}))
    return out


def same():
    reqs = prompts(16)
    alone = [stream_text(p, b) for p, b in reqs]
    results = [None] * len(reqs)
    start = threading.Barrier(len(reqs))

    def client(i):
        start.wait()
        try:
            results[i] = stream_text(*reqs[i])
        except Exception as e:  # noqa: BLE001 - reported as a failure
            results[i] = e

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(reqs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, (a, b) in enumerate(zip(alone, results)):
        if a != b:
            fail("client %d: together %r, alone %r" % (i, b, a))
    if not failures:
        print("ok   16 concurrent greedy streams equal the same requests alone", flush=True)


def one_request(rng, i, counts, lock):
    path, body = prompts(16)[rng.randrange(16)]
    body = dict(body, max_tokens=rng.randrange(1, 24), temperature=rng.choice([0, 0.7]), seed=i)
    stream = rng.random() < 0.5
    cancel = rng.random() < 0.2
    try:
        if cancel:
            # send the request, read a little (or nothing), and close the socket: the server must cancel
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            payload = json.dumps(dict(body, stream=stream, max_tokens=0, temperature=5)).encode()
            s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                      % (path.encode(), len(payload)) + payload)
            if stream and rng.random() < 0.5:
                s.recv(rng.randrange(1, 2000))          # during the answer
            else:
                time.sleep(rng.random() * 0.2)           # before it (a whole answer comes at its end)
            s.close()
            kind = "cancelled"
        elif stream:
            stream_text(path, body)
            kind = "streamed"
        else:
            c, r = request(path, body)
            data = json.loads(r.read())
            c.close()
            if r.status == 429:
                kind = "busy"
            elif r.status != 200 or data["usage"]["completion_tokens"] > body["max_tokens"]:
                raise RuntimeError("status %d: %s" % (r.status, data))
            else:
                kind = "answered"
    except Exception as e:  # noqa: BLE001 - reported as a failure
        fail("request %d (%s, stream %s): %s" % (i, path, stream, e))
        kind = "failed"
    with lock:
        counts[kind] = counts.get(kind, 0) + 1


def run_clients(n, clients, seed):
    counts, lock, next_i = {}, threading.Lock(), [0]

    def client(k):
        rng = random.Random(seed * 1000 + k)
        while True:
            with lock:
                i = next_i[0]
                next_i[0] += 1
            if i >= n:
                return
            one_request(rng, i, counts, lock)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts


def settle():
    """Waits until the server holds no request (cancelled ones leave within a token or two)."""
    for _ in range(200):
        h = health()
        if h["requests"] == 0:
            return h
        time.sleep(0.05)
    fail("requests still in flight after the clients finished: %s" % h)
    return h


def load(n):
    t0 = time.time()
    run_clients(max(64, n // 5), 32, 1)          # warm-up: every thread and buffer the load will use
    settle()
    rss0 = rss_kb()
    counts = run_clients(n, 32, 2)
    h = settle()
    rss1 = rss_kb()
    total = sum(counts.values())
    print("ok   %d requests from 32 clients in %.1f s: %s" % (total, time.time() - t0,
          ", ".join("%s %d" % kv for kv in sorted(counts.items()))), flush=True)
    if total != n or counts.get("failed", 0):
        fail("%d of %d requests accounted for, %d failed" % (total, n, counts.get("failed", 0)))
    if h.get("status") != "ok":
        fail("health after the load: %s" % h)
    # flat: what the load round adds over the warm-up round is noise (thread stacks, malloc's free
    # lists: 0.1-0.3 MB here with serve-load.sh's resident cache), not a leak per request
    grown = rss1 - rss0
    print("%s RSS %d kB after the warm-up, %d kB after the load (%+d kB)" % ("ok  " if grown < 8192 else "FAIL",
          rss0, rss1, grown), flush=True)
    if grown >= 8192:
        failures.append("rss")


if what == "same":
    same()
else:
    load(int(sys.argv[4]) if len(sys.argv) > 4 else 1000)
sys.exit(1 if failures else 0)
