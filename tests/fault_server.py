#!/usr/bin/env python3
# fault_server.py: an OpenAI-compatible server that fails on purpose, for tests/remote_test.py: the
# ways real servers fail that dscoder-engine --serve cannot be made to (rate limits, a crashed model,
# a stream cut in the middle, garbage, an error inside the stream, silence). The model named in a
# request chooses the behaviour. Prints "listening on http://127.0.0.1:PORT" on stderr.
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODELS = ["ok", "cut", "busy", "fail", "garbage", "error-event", "length", "silent"]
PIECES = ["Hello", ",", " world", "!"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"       # the body ends when the connection closes

    def log_message(self, fmt, *args):
        pass

    def _json(self, status, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in MODELS]})
        else:
            self._json(404, {"error": {"message": "no such path", "type": "invalid_request_error"}})

    def _event(self, obj):
        data = obj if isinstance(obj, str) else json.dumps(obj)
        self.wfile.write(("data: %s\n\n" % data).encode())
        self.wfile.flush()

    def _chunk(self, chat, text, finish=None):
        choice = {"index": 0, "finish_reason": finish}
        if chat:
            choice["delta"] = {"content": text} if text is not None else {}
        else:
            choice["text"] = text or ""
        return {"id": "x", "object": "chat.completion.chunk" if chat else "text_completion",
                "model": "m", "choices": [choice]}

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(n) or b"{}")
        chat = self.path.endswith("/chat/completions")
        model = req.get("model")
        if model == "busy":
            return self._json(429, {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}},
                              [("Retry-After", "7")])
        if model == "fail":
            return self._json(500, {"error": {"message": "the model fell over", "type": "server_error"}})
        if model not in MODELS:
            return self._json(404, {"error": {"message": "The model does not exist", "type": "invalid_request_error"}})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        if model == "garbage":
            self.wfile.write(b"data: {this is not json\n\n")
            return
        if model == "error-event":
            self._event(self._chunk(chat, "Hel"))
            self._event({"error": {"message": "out of memory on the server", "type": "server_error"}})
            self._event("[DONE]")
            return
        if model == "silent":
            self._event(self._chunk(chat, "Hi"))
            for _ in range(600):            # until the client goes away
                time.sleep(0.1)
                try:
                    self.wfile.write(b": still here\n")
                    self.wfile.flush()
                except OSError:
                    return
            return
        pieces = PIECES[:2] if model == "cut" else PIECES
        for p in pieces:
            self._event(self._chunk(chat, p))
        if model == "cut":
            return                          # the connection closes: no finish, no [DONE]
        self._event(self._chunk(chat, None, "length" if model == "length" else "stop"))
        self._event({"id": "x", "object": "chat.completion.chunk", "choices": [],
                     "usage": {"prompt_tokens": 17, "completion_tokens": 4, "total_tokens": 21}})
        self._event("[DONE]")


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print("listening on http://127.0.0.1:%d" % srv.server_address[1], file=sys.stderr, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
