"""Lambda's Invoke API in front of `cargo lambda watch`, for moto's Step Functions engine.

moto runs a state machine's `lambda:invoke` tasks by calling the Lambda Invoke API at
localhost:$MOTO_PORT. cargo lambda watch serves that API too, with two differences this shim
bridges: it knows functions by name, not ARN, and it answers a function error with HTTP 500 where
Lambda answers 200 with `X-Amz-Function-Error: Unhandled`. It also counts invocations per
function, at GET /_shim/invocations.

    python lambda_shim.py LISTEN_PORT WATCH_PORT
"""

import http.server
import json
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

WATCH = f"http://127.0.0.1:{sys.argv[2]}"
counts = {}
lock = threading.Lock()


class Shim(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with lock:
            body = json.dumps(counts).encode()
        self._answer(200, body, {})

    def do_POST(self):
        # /2015-03-31/functions/{name or ARN}/invocations
        parts = self.path.split("/")
        target = urllib.parse.unquote(parts[3]) if len(parts) > 4 and parts[2] == "functions" else ""
        name = target.split(":")[-1]
        with lock:
            counts[name] = counts.get(name, 0) + 1
        payload = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        url = f"{WATCH}/2015-03-31/functions/{name}/invocations"
        request = urllib.request.Request(url, data=payload, method="POST")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=900) as resp:
                self._answer(200, resp.read(), {})
        except urllib.error.HTTPError as err:
            self._answer(200, err.read(), {"X-Amz-Function-Error": "Unhandled"})

    def _answer(self, status, body, headers):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = http.server.ThreadingHTTPServer(("localhost", int(sys.argv[1])), Shim)
    server.serve_forever()
