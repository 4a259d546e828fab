"""moto's S3 server for the tests, with one fix and per-bucket fault injection.

The fix: moto 5.2.5 answers ListParts with the root element <ListPartsResponse>; S3 (and
aws-sdk-s3, which checks) use <ListPartsResult>. This wrapper renames it.

Faults: a WSGI layer in front of moto answers chosen S3 operations on one bucket with an error
instead of passing them on, so tests that share this server do not disturb each other. Set them
over HTTP (path-style requests only, which is what the tests send):

    POST   /_faults/<bucket>  {"upload_part": {"status": 500, "count": 2}}
    GET    /_faults/<bucket>  the bucket's faults, with what is left and how often each fired
    DELETE /_faults/<bucket>  clear them

Operations: put_object, create_multipart_upload, upload_part, complete_multipart_upload. Each
takes "status" (default 500), optional "code" (S3 error code; default InternalError for 500,
SlowDown for 503, ServiceUnavailable otherwise), optional "count" (how many requests fail;
absent or null means every one until cleared) and optional "key_suffix" (only keys that end
with it). A POST sets the operations it names and leaves the others; every answer is the
bucket's whole fault state as JSON:
{"upload_part": {"status": 500, "code": "InternalError", "remaining": 0, "hits": 2, ...}}.
A faulted request never reaches moto: its body is read and dropped, and the answer is an
S3-style XML error.

Then it runs moto's own server with the arguments given (e.g. `-H 127.0.0.1 -p 5000`).
"""

import json
import sys
import threading
from http import HTTPStatus
from urllib.parse import parse_qs, unquote

import moto.server
from moto.s3.responses import S3Response

_list_parts = S3Response.list_parts


def _list_parts_result(self):
    status, headers, body = _list_parts(self)
    if isinstance(body, str):
        body = body.replace("ListPartsResponse", "ListPartsResult")
    elif isinstance(body, bytes):
        body = body.replace(b"ListPartsResponse", b"ListPartsResult")
    return status, headers, body


S3Response.list_parts = _list_parts_result

OPERATIONS = (
    "put_object",
    "create_multipart_upload",
    "upload_part",
    "complete_multipart_upload",
)
DEFAULT_CODES = {500: "InternalError", 503: "SlowDown"}
FAULTS_PREFIX = "/_faults/"


def operation(method, path, query, copy_source):
    """The S3 operation of a path-style request, as (bucket, key, name), or None. (aws-sdk-s3
    adds `x-id=<Operation>` to some requests; it is not a subresource.)"""
    parts = path.lstrip("/").split("/", 1)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return None
    bucket, key = parts[0], unquote(parts[1])
    params = parse_qs(query, keep_blank_values=True)
    if method == "PUT" and "partNumber" in params and "uploadId" in params:
        return bucket, key, "upload_part"
    if method == "POST" and "uploads" in params:
        return bucket, key, "create_multipart_upload"
    if method == "POST" and "uploadId" in params:
        return bucket, key, "complete_multipart_upload"
    if method == "PUT" and set(params) <= {"x-id"} and not copy_source:
        return bucket, key, "put_object"
    return None


class Faults:
    """Fault specs by bucket, then by operation; safe across the server's threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.buckets = {}

    def state(self, bucket):
        with self.lock:
            return {op: dict(spec) for op, spec in self.buckets.get(bucket, {}).items()}

    def set(self, bucket, specs):
        if not isinstance(specs, dict):
            raise ValueError("the body must be a JSON object of operations")
        parsed = {}
        for op, spec in specs.items():
            if op not in OPERATIONS:
                raise ValueError(f"unknown operation {op!r}; known: {', '.join(OPERATIONS)}")
            if not isinstance(spec, dict):
                raise ValueError(f"{op}: expected an object")
            status = int(spec.get("status", 500))
            if not 400 <= status <= 599:
                raise ValueError(f"{op}: status must be 4xx or 5xx")
            count = spec.get("count")
            if count is not None and (not isinstance(count, int) or count < 0):
                raise ValueError(f"{op}: count must be a non-negative integer or null")
            parsed[op] = {
                "status": status,
                "code": str(spec.get("code") or DEFAULT_CODES.get(status, "ServiceUnavailable")),
                "remaining": count,
                "key_suffix": spec.get("key_suffix"),
                "hits": 0,
            }
        with self.lock:
            self.buckets.setdefault(bucket, {}).update(parsed)

    def clear(self, bucket):
        with self.lock:
            self.buckets.pop(bucket, None)

    def take(self, bucket, key, op):
        """The fault that hits this request, if one does (counting it)."""
        with self.lock:
            spec = self.buckets.get(bucket, {}).get(op)
            if spec is None:
                return None
            if spec["key_suffix"] and not key.endswith(spec["key_suffix"]):
                return None
            if spec["remaining"] is not None:
                if spec["remaining"] <= 0:
                    return None
                spec["remaining"] -= 1
            spec["hits"] += 1
            return dict(spec)


def read_body(environ):
    """The request body. werkzeug hands over the raw socket for a body with a Content-Length,
    so read exactly that much; a chunked body is de-chunked and ends by itself."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if environ.get("wsgi.input_terminated"):
        return stream.read()
    length = int(environ.get("CONTENT_LENGTH") or 0)
    chunks = []
    while length > 0:
        chunk = stream.read(min(length, 65536))
        if not chunk:
            break
        chunks.append(chunk)
        length -= len(chunk)
    return b"".join(chunks)


def respond(start_response, status, content_type, body):
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    data = body.encode()
    start_response(
        f"{status} {reason}",
        [("Content-Type", content_type), ("Content-Length", str(len(data)))],
    )
    return [data]


class FaultInjector:
    """WSGI middleware: the /_faults/ endpoints, and faulted S3 requests answered here."""

    def __init__(self, app):
        self.app = app
        self.faults = Faults()

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        if path.startswith(FAULTS_PREFIX):
            return self.control(environ, start_response, method, path[len(FAULTS_PREFIX):])
        found = operation(
            method,
            path,
            environ.get("QUERY_STRING", ""),
            environ.get("HTTP_X_AMZ_COPY_SOURCE"),
        )
        if found is not None:
            spec = self.faults.take(*found)
            if spec is not None:
                read_body(environ)
                bucket, key, _ = found
                body = (
                    '<?xml version="1.0" encoding="UTF-8"?>\n'
                    f"<Error><Code>{spec['code']}</Code>"
                    "<Message>fault injected by the test server</Message>"
                    f"<BucketName>{bucket}</BucketName><Key>{key}</Key>"
                    "<RequestId>FAULTINJECTED</RequestId></Error>"
                )
                return respond(start_response, spec["status"], "application/xml", body)
        return self.app(environ, start_response)

    def control(self, environ, start_response, method, bucket):
        if not bucket or "/" in bucket:
            return respond(start_response, 404, "text/plain", "use /_faults/<bucket>")
        try:
            if method == "POST":
                self.faults.set(bucket, json.loads(read_body(environ) or b"{}"))
            elif method == "DELETE":
                read_body(environ)
                self.faults.clear(bucket)
            elif method != "GET":
                return respond(start_response, 405, "text/plain", "GET, POST or DELETE")
        except (ValueError, TypeError) as e:
            return respond(start_response, 400, "text/plain", str(e))
        state = json.dumps(self.faults.state(bucket))
        return respond(start_response, 200, "application/json", state)


_run_simple = moto.server.run_simple


def _run_simple_with_faults(hostname, port, application, **kwargs):
    return _run_simple(hostname, port, FaultInjector(application), **kwargs)


moto.server.run_simple = _run_simple_with_faults

if __name__ == "__main__":
    sys.exit(moto.server.main(sys.argv[1:]))
