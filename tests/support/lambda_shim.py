"""Lambda's Invoke API in front of `cargo lambda watch`, for moto's Step Functions engine.

moto runs a state machine's `lambda:invoke` tasks by calling the Lambda Invoke API at
localhost:$MOTO_PORT. cargo lambda watch serves that API too, with two differences this shim
bridges: it knows functions by name, not ARN, and it answers a function error with HTTP 500 where
Lambda answers 200 with `X-Amz-Function-Error: Unhandled`. It also counts invocations per
function, at GET /_shim/invocations.

A test can make it answer an invocation as Lambda does when the invocation did not finish,
without forwarding it: POST /_shim/fail-next with

    {"step": "copy", "errorType": "Sandbox.Timedout",
     "errorMessage": "RequestId: {request_id} Error: Task timed out after 900.00 seconds"}

answers the next invocation whose payload's `step` is "copy" with HTTP 200,
`X-Amz-Function-Error: Unhandled` (or the entry's "functionError") and the body
{"errorType": ..., "errorMessage": ...}, `{request_id}` replaced by a fresh request ID, as Lambda
answers a function timeout (Sandbox.Timedout) or a process exit (Runtime.ExitError, "RequestId:
... Error: Runtime exited with error: signal: killed"). Entries are used once, in the order given;
the invocation still counts. GET /_shim/fail-next lists the entries not used yet ("pending") and
the answers given ("answered").

    python lambda_shim.py LISTEN_PORT WATCH_PORT
"""

import http.server
import json
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid

WATCH = f"http://127.0.0.1:{sys.argv[2]}" if len(sys.argv) > 2 else ""
counts = {}
pending = []  # fail-next entries not used yet, in order
answered = []  # the failures answered: {"step", "errorType", "errorMessage"}
lock = threading.Lock()


def take_failure(payload: bytes):
    """The first pending entry for the payload's `step`, removed; None if there is none."""
    try:
        step = json.loads(payload).get("step")
    except (ValueError, AttributeError):
        return None
    with lock:
        for i, entry in enumerate(pending):
            if entry["step"] == step:
                return pending.pop(i)
    return None


class Shim(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with lock:
            if self.path.startswith("/_shim/fail-next"):
                body = json.dumps({"pending": pending, "answered": answered}).encode()
            else:
                body = json.dumps(counts).encode()
        self._answer(200, body, {})

    def do_POST(self):
        payload = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.startswith("/_shim/fail-next"):
            self._fail_next(payload)
            return
        # /2015-03-31/functions/{name or ARN}/invocations
        parts = self.path.split("/")
        target = urllib.parse.unquote(parts[3]) if len(parts) > 4 and parts[2] == "functions" else ""
        name = target.split(":")[-1]
        with lock:
            counts[name] = counts.get(name, 0) + 1
        failure = take_failure(payload)
        if failure is not None:
            error = {
                "errorType": failure["errorType"],
                "errorMessage": failure["errorMessage"].replace("{request_id}", str(uuid.uuid4())),
            }
            with lock:
                answered.append({"step": failure["step"], **error})
            self._answer(200, json.dumps(error).encode(), {"X-Amz-Function-Error": failure["functionError"]})
            return
        url = f"{WATCH}/2015-03-31/functions/{name}/invocations"
        request = urllib.request.Request(url, data=payload, method="POST")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=900) as resp:
                self._answer(200, resp.read(), {})
        except urllib.error.HTTPError as err:
            self._answer(200, err.read(), {"X-Amz-Function-Error": "Unhandled"})

    def _fail_next(self, body: bytes):
        try:
            entry = json.loads(body)
            failure = {
                "step": str(entry["step"]),
                "errorType": str(entry["errorType"]),
                "errorMessage": str(entry["errorMessage"]),
                "functionError": str(entry.get("functionError", "Unhandled")),
            }
        except (ValueError, KeyError, TypeError) as err:
            self._answer(400, json.dumps({"error": f"fail-next wants step, errorType, errorMessage: {err!r}"}).encode(), {})
            return
        with lock:
            pending.append(failure)
            body = json.dumps({"pending": len(pending)}).encode()
        self._answer(200, body, {})

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
