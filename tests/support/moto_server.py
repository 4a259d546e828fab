"""moto's S3 server for the tests, behind a strict S3 front.

moto stores what it is sent and answers most S3 calls, but it believes the client: it stores a
PutObject or UploadPart whatever checksum came with it, completes a multipart upload whatever
full-object checksum the client claims, lists no part checksums, and reports on HeadObject the
checksum it was told. This module runs moto's own server with a WSGI layer in front that does
what real S3 does there, so that a test that passes against it means what it seems:

- **Checksums on every write.** PutObject and UploadPart: the CRC32C of the body received must
  equal the client's `x-amz-checksum-crc32c`, sent as a header or as an `aws-chunked` trailer
  (the front decodes aws-chunked bodies itself, signed or unsigned chunks, and passes moto a
  plain body); otherwise 400 BadDigest and moto never sees the request. A hex
  `x-amz-content-sha256` must match the body too (400 XAmzContentSHA256Mismatch).
- **CompleteMultipartUpload** is checked against the parts the front saw uploaded: ascending
  part numbers (InvalidPartOrder), each part uploaded with that ETag and, when the body names
  one, that ChecksumCRC32C (InvalidPart), and for a FULL_OBJECT upload the claimed
  `x-amz-checksum-crc32c` against the CRC32C of the listed parts in order, combined from the
  parts' CRCs (BadDigest). `If-Match` is honoured (moto ignores it there).
- **HeadObject / GetObject** with `x-amz-checksum-mode: ENABLED` report the CRC32C the front
  computed (PutObject: of the body; multipart: the full object's) with `x-amz-checksum-type:
  FULL_OBJECT`. DeleteObject forgets it.
- **ListParts** lists each part's ChecksumCRC32C, and the upload's ChecksumAlgorithm and
  ChecksumType; its root element is ListPartsResult (moto 5.2.5 says ListPartsResponse).
- **An upload that is not in progress is NoSuchUpload.** UploadPart, ListParts,
  CompleteMultipartUpload and AbortMultipartUpload on an upload id that the front did not see
  created for that bucket and key, or saw completed or aborted, are answered 404 NoSuchUpload
  (moto answers some of them 500, and a retried completion 200). Uploads are known by what
  passed through the front, so one created before the front started is unknown.
- **DeleteObject honours `If-Match`** (an ETag, or `*`), as S3's conditional deletes do: 412
  when another object is at the key, 404 when none is.
- **Writes to one key are serialised** (PutObject, CompleteMultipartUpload, DeleteObject, and
  AbortMultipartUpload), so of two concurrent `If-None-Match: *` writes exactly one succeeds, as
  on S3. moto evaluates the preconditions of PutObject itself (412 PreconditionFailed;
  `If-Match` on a missing key 404 NoSuchKey, as S3 documents) but not atomically.
- **Expected bucket owner**: once a bucket's owner is set, a request whose
  `x-amz-expected-bucket-owner` names another account is answered 403 AccessDenied.

Only S3 requests pass through the front (path-style, as the tests send them; a request signed
for another service, e.g. Step Functions on the same server, goes straight to moto). Checksum
algorithms other than CRC32C, COMPOSITE multipart checksums, Content-MD5 and request signatures
(chunk signatures included) are not checked.

Control API (JSON over HTTP on the same port):

    POST   /_faults/<bucket>          set faults: {"upload_part": {"status": 500, "count": 2}}
    GET    /_faults/<bucket>          the bucket's fault state
    DELETE /_faults/<bucket>          clear the bucket's faults and owner; release held requests
    POST   /_faults/<bucket>/release  release held requests: {"operation": "upload_part",
                                      "count": 2}; both optional (all of them), answers
                                      {"released": n}
    GET    /_stats/<bucket>           what the bucket was sent (below)
    DELETE /_stats/<bucket>           forget it
    POST   /_chaos/<bucket>           seeded random faults: {"seed": 7, "percent": 5,
                                      "operations": ["upload_part", ...]} (operations optional:
                                      all of them)
    GET    /_chaos/<bucket>           the bucket's chaos state and what it injected (below)
    DELETE /_chaos/<bucket>           chaos off for the bucket

A fault POST names operations (put_object, create_multipart_upload, upload_part,
complete_multipart_upload, abort_multipart_upload, list_parts, head_object, get_object,
delete_object, list_objects (ListObjects V1 and V2), list_multipart_uploads) and sets each one's
spec, leaving the others; the key "bucket_owner" (an account id, or null) sets the owner. A spec
takes:

    "status", "code"   answer with this S3 error instead of serving the request (status 4xx or
                       5xx, default 500; code defaults by status: 400 InvalidRequest, 403
                       AccessDenied, 404 NoSuchKey (NoSuchBucket for listings), 409
                       ConditionalRequestConflict, 412 PreconditionFailed, 500 InternalError,
                       503 SlowDown, otherwise ServiceUnavailable). A spec with none of the
                       options below is such an error.
    "corrupt": true    (put_object, upload_part) flip a byte of the body received, before the
                       checksum checks: corruption in transit.
    "report_crc32c"    (head_object, get_object, list_parts; base64) report this CRC32C instead
                       of the true one (list_parts: for every part); on head_object and
                       get_object it applies only to requests with checksum mode ENABLED.
    "delay_ms": N      hold the request N ms before serving it.
    "hold": true       block the request until released (see above), the bucket's faults are
                       cleared, or "hold_timeout_ms" (default 120000) passes; then serve it.
    "count"            how many matching requests the spec applies to (absent or null: all).
    "key_suffix"       only keys that end with it.

Every fault answer is the bucket's whole state, e.g. {"bucket_owner": "111122223333",
"upload_part": {"status": 500, "code": "InternalError", "remaining": 0, "hits": 2,
"key_suffix": null, "delay_ms": 0, "hold": false, "held": 0, "hold_timeouts": 0,
"corrupt": false, "report_crc32c": null}}: "hits" is how often the spec applied, "held" how
many requests it holds right now. A faulted request's body is read and dropped.

Stats, recorded when a request is answered (the in-flight count when it starts being received
and when its answer has been sent):

    {"operations": {"upload_part": {"requests": 3, "bytes_received": 1234}},
     "upload_part_in_flight": {"current": 0, "peak": 3},
     "requests": [{"operation": "upload_part", "key": "k", "status": 200, "bytes": 411,
                   "checksum": "header" | "trailer" | null, "expected_bucket_owner": null,
                   "headers": {"x-amz-server-side-encryption": "AES256", "if-none-match": "*"}}],
     "requests_dropped": 0}

"bytes" counts the body as received (aws-chunked framing included); "headers" holds the
x-amz-server-side-encryption* and If-Match / If-None-Match headers sent; requests other than the
operations above are "other"; only the last 5000 requests are kept.

Chaos: while it is on for a bucket, every S3 request to it of the operations named draws once
from one generator seeded with "seed" (in the order the front receives them; a POST starts the
generator again), and with probability "percent" % is answered 500 InternalError (its body read
and dropped) instead of being served, before any fault spec is looked at. The same seed and the
same order of requests give the same faults. Its state, e.g. {"seed": 7, "percent": 5,
"operations": [...], "draws": 120, "injected": {"head_object": 2, "list_parts": 1}}, counts
the requests that drew and the faults injected by operation; it is answered by every chaos call
(DELETE: the state just before).

Then it runs moto's own server with the arguments given (e.g. `-H 127.0.0.1 -p 5000`).
"""

import base64
import collections
import dataclasses
import hashlib
import io
import json
import random
import re
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import crc32c
import moto.server
from moto.s3.responses import S3Response

# --- moto's ListParts root element ---------------------------------------------------------

_list_parts = S3Response.list_parts


def _list_parts_result(self):
    status, headers, body = _list_parts(self)
    if isinstance(body, str):
        body = body.replace("ListPartsResponse", "ListPartsResult")
    elif isinstance(body, bytes):
        body = body.replace(b"ListPartsResponse", b"ListPartsResult")
    return status, headers, body


S3Response.list_parts = _list_parts_result

# --- CRC32C --------------------------------------------------------------------------------

CRC32C_POLY = 0x82F63B78  # Castagnoli, bit-reflected


def _gf2_times(matrix, vector):
    total, row = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


def _gf2_square(matrix):
    return [_gf2_times(matrix, column) for column in matrix]


def _zero_byte_operator():
    one_bit = [CRC32C_POLY] + [1 << n for n in range(31)]
    return _gf2_square(_gf2_square(_gf2_square(one_bit)))


_ZERO_BYTE = _zero_byte_operator()


def crc32c_combine(crc_a, crc_b, len_b):
    """CRC32C of A+B from CRC32C(A), CRC32C(B) and len(B): CRC(A) advanced over len(B) zero
    bytes by repeated squaring of the one-zero-byte operator over GF(2), xor CRC(B) (zlib's
    crc32_combine, for the Castagnoli polynomial)."""
    operator = _ZERO_BYTE
    while len_b:
        if len_b & 1:
            crc_a = _gf2_times(operator, crc_a)
        len_b >>= 1
        if len_b:
            operator = _gf2_square(operator)
    return crc_a ^ crc_b


def crc32c_base64(crc):
    return base64.b64encode(crc.to_bytes(4, "big")).decode()


def parse_crc32c_base64(value):
    """The CRC32C a base64 value names, or None if it names none."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (ValueError, TypeError):
        return None
    return int.from_bytes(raw, "big") if len(raw) == 4 else None


# --- S3 errors -----------------------------------------------------------------------------

MESSAGES = {
    "AccessDenied": "Access Denied",
    "BadDigest": "The CRC32C you specified did not match the calculated checksum.",
    "ConditionalRequestConflict": "The conditional request cannot succeed due to a conflicting "
    "operation against this resource.",
    "IncompleteBody": "You did not provide the number of bytes specified by the Content-Length "
    "HTTP header",
    "InternalError": "We encountered an internal error. Please try again.",
    "InvalidPart": "One or more of the specified parts could not be found.  The part may not "
    "have been uploaded, or the specified entity tag may not match the part's entity tag.",
    "InvalidPartOrder": "The list of parts was not in ascending order. Parts must be ordered by "
    "part number.",
    "MalformedXML": "The XML you provided was not well-formed or did not validate against our "
    "published schema",
    "NoSuchBucket": "The specified bucket does not exist",
    "NoSuchKey": "The specified key does not exist.",
    "NoSuchUpload": "The specified upload does not exist. The upload ID may be invalid, or the "
    "upload may have been aborted or completed.",
    "PreconditionFailed": "At least one of the pre-conditions you specified did not hold",
    "ServiceUnavailable": "Service is unable to handle request.",
    "SlowDown": "Please reduce your request rate.",
    "XAmzContentSHA256Mismatch": "The provided 'x-amz-content-sha256' header does not match "
    "what was computed.",
}


class S3Error(Exception):
    """An S3 error answer: status, code, message and extra elements (e.g. Key)."""

    def __init__(self, status, code, message=None, request_id=None, **extra):
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message or MESSAGES.get(code, code)
        self.request_id = request_id or uuid.uuid4().hex.upper()[:16]
        self.extra = extra

    def answer(self):
        fields = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in self.extra.items())
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code><Message>{escape(self.message)}</Message>"
            f"{fields}<RequestId>{self.request_id}</RequestId>"
            f"<HostId>{self.request_id}</HostId></Error>"
        ).encode()
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", self.request_id)]
        return Answer(self.status, headers, body).with_length()


def no_such_upload(request):
    """S3's answer to an upload request whose upload id names no upload in progress."""
    return S3Error(404, "NoSuchUpload", UploadId=request.param("uploadId") or "")


# --- requests and answers ------------------------------------------------------------------

OPERATIONS = (
    "put_object",
    "create_multipart_upload",
    "upload_part",
    "complete_multipart_upload",
    "abort_multipart_upload",
    "list_parts",
    "head_object",
    "get_object",
    "delete_object",
    "list_objects",
    "list_multipart_uploads",
)
OBJECT_SUBRESOURCES = {
    "acl",
    "attributes",
    "legal-hold",
    "restore",
    "retention",
    "select",
    "tagging",
    "torrent",
}
LIST_PARAMS = {
    "continuation-token",
    "delimiter",
    "encoding-type",
    "fetch-owner",
    "list-type",
    "marker",
    "max-keys",
    "prefix",
    "start-after",
    "x-id",
}
OBJECT_METHODS = {
    "PUT": "put_object",
    "GET": "get_object",
    "HEAD": "head_object",
    "DELETE": "delete_object",
}
UPLOAD_METHODS = {
    "PUT": "upload_part",
    "POST": "complete_multipart_upload",
    "DELETE": "abort_multipart_upload",
    "GET": "list_parts",
}
CREDENTIAL_SERVICE = re.compile(r"Credential=[^/,]+/[^/]+/[^/]+/([^/]+)/aws4_request")


def operation(method, key, params, copy_source):
    """The name of the S3 operation, or "other". (aws-sdk-s3 adds `x-id=<Operation>` to some
    requests; it is not a subresource.)"""
    if key:
        if "uploadId" in params:
            if method == "PUT" and ("partNumber" not in params or copy_source):
                return "other"
            return UPLOAD_METHODS.get(method, "other")
        if "uploads" in params:
            return "create_multipart_upload" if method == "POST" else "other"
        if OBJECT_SUBRESOURCES & params.keys() or (method == "PUT" and copy_source):
            return "other"
        return OBJECT_METHODS.get(method, "other")
    if method == "GET" and "uploads" in params:
        return "list_multipart_uploads"
    if method == "GET" and params.keys() <= LIST_PARAMS:
        return "list_objects"
    return "other"


def header_key(name):
    key = name.upper().replace("-", "_")
    return key if key in ("CONTENT_LENGTH", "CONTENT_TYPE") else f"HTTP_{key}"


@dataclass
class S3Request:
    environ: dict
    method: str
    bucket: str
    key: str
    params: dict
    op: str

    def header(self, name):
        return self.environ.get(header_key(name))

    def param(self, name):
        return self.params.get(name, [None])[0]

    @property
    def checksum_mode(self):
        return (self.header("x-amz-checksum-mode") or "").upper() == "ENABLED"


def s3_request(environ):
    """The path-style S3 request for a bucket, or None (the service root, or a request signed
    for another of moto's services)."""
    signed = environ.get("HTTP_AUTHORIZATION", "") + environ.get("QUERY_STRING", "")
    service = CREDENTIAL_SERVICE.search(signed.replace("%2F", "/"))
    if service and service.group(1) != "s3":
        return None
    path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
    bucket, _, key = path.lstrip("/").partition("/")
    if not bucket:
        return None
    method = environ.get("REQUEST_METHOD", "GET")
    params = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    op = operation(method, key, params, environ.get("HTTP_X_AMZ_COPY_SOURCE"))
    return S3Request(environ, method, bucket, key, params, op)


@dataclass
class Answer:
    status: int
    headers: list
    body: bytes

    @property
    def ok(self):
        return 200 <= self.status < 300

    def header(self, name):
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def drop_headers(self, prefix):
        self.headers = [(k, v) for k, v in self.headers if not k.lower().startswith(prefix)]

    def set_header(self, name, value):
        self.drop_headers(name.lower())
        self.headers.append((name, value))

    def with_length(self):
        self.set_header("Content-Length", str(len(self.body)))
        return self


def read_body(environ):
    """The request body. werkzeug hands over the raw socket for a body with a Content-Length,
    so read exactly that much (a shorter body is IncompleteBody); a chunked body is de-chunked
    and ends by itself."""
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
            raise S3Error(400, "IncompleteBody")
        chunks.append(chunk)
        length -= len(chunk)
    return b"".join(chunks)


# --- the body received ---------------------------------------------------------------------

CHECKSUM_HEADER = "x-amz-checksum-crc32c"


def is_aws_chunked(request):
    encodings = [e.strip() for e in (request.header("content-encoding") or "").split(",")]
    sha256 = request.header("x-amz-content-sha256") or ""
    return "aws-chunked" in encodings or sha256.startswith("STREAMING-")


def decode_aws_chunked(raw):
    """The payload and trailers of an aws-chunked body: `<hex size>[;chunk-signature=…]\\r\\n`,
    that many bytes, `\\r\\n`, …, a 0-size chunk, then `name:value\\r\\n` trailer lines and an
    empty line."""
    stream = io.BytesIO(raw)
    payload = bytearray()
    while True:
        line = stream.readline()
        if not line.endswith(b"\r\n"):
            raise S3Error(400, "IncompleteBody")
        try:
            size = int(line.split(b";", 1)[0], 16)
        except ValueError:
            raise S3Error(400, "InvalidRequest", "Invalid aws-chunked chunk size") from None
        if size == 0:
            break
        chunk = stream.read(size)
        if len(chunk) != size or stream.read(2) != b"\r\n":
            raise S3Error(400, "IncompleteBody")
        payload += chunk
    trailers = {}
    for line in stream.read().split(b"\r\n"):
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            trailers[name.strip().lower()] = value.strip()
    return bytes(payload), trailers


@dataclass
class Received:
    """What a request's body carried: the payload (decoded from aws-chunked), and the CRC32C
    the client claims for it, from the header or the trailer."""

    payload: bytes
    chunked: bool
    claimed_crc32c: str | None

    @classmethod
    def parse(cls, request, raw):
        if not is_aws_chunked(request):
            return cls(raw, False, request.header(CHECKSUM_HEADER))
        payload, trailers = decode_aws_chunked(raw)
        decoded_length = request.header("x-amz-decoded-content-length")
        if decoded_length is not None and decoded_length.strip() != str(len(payload)):
            raise S3Error(400, "IncompleteBody")
        claimed = request.header(CHECKSUM_HEADER) or trailers.get(CHECKSUM_HEADER)
        trailer = (request.header("x-amz-trailer") or "").strip().lower()
        if trailer == CHECKSUM_HEADER and CHECKSUM_HEADER not in trailers:
            raise S3Error(400, "InvalidRequest", f"The trailer {CHECKSUM_HEADER} is missing")
        return cls(payload, True, claimed)

    @property
    def crc32c(self):
        return crc32c.crc32c(self.payload)

    def corrupt(self):
        if self.payload:
            middle = len(self.payload) // 2
            flipped = bytes([self.payload[middle] ^ 0xFF])
            self.payload = self.payload[:middle] + flipped + self.payload[middle + 1 :]

    def verify_crc32c(self, request):
        """400 BadDigest unless the payload has the CRC32C the client claims; the claim is
        required when the client names CRC32C as its checksum algorithm."""
        if self.claimed_crc32c is None:
            if (request.header("x-amz-sdk-checksum-algorithm") or "").upper() == "CRC32C":
                raise S3Error(
                    400,
                    "InvalidRequest",
                    "x-amz-sdk-checksum-algorithm specified, but no corresponding "
                    "x-amz-checksum-* or x-amz-trailer headers were found.",
                )
            return
        claimed = parse_crc32c_base64(self.claimed_crc32c)
        if claimed is None:
            raise S3Error(400, "InvalidRequest", f"Value for {CHECKSUM_HEADER} header is invalid.")
        if claimed != self.crc32c:
            raise S3Error(400, "BadDigest")

    def verify_sha256(self, request):
        declared = request.header("x-amz-content-sha256") or ""
        if self.chunked or not re.fullmatch(r"[0-9a-fA-F]{64}", declared):
            return
        if hashlib.sha256(self.payload).hexdigest() != declared.lower():
            raise S3Error(400, "XAmzContentSHA256Mismatch")

    def environ_for_moto(self, environ):
        """The request as moto should see it: a plain body of the payload, with its length; an
        aws-chunked body loses its framing headers and its trailer becomes a header."""
        environ = dict(environ)
        for name in ("HTTP_TRANSFER_ENCODING", "wsgi.input_terminated"):
            environ.pop(name, None)
        environ["wsgi.input"] = io.BytesIO(self.payload)
        environ["CONTENT_LENGTH"] = str(len(self.payload))
        if self.chunked:
            for name in ("HTTP_X_AMZ_DECODED_CONTENT_LENGTH", "HTTP_X_AMZ_TRAILER"):
                environ.pop(name, None)
            encodings = [
                e.strip()
                for e in environ.pop("HTTP_CONTENT_ENCODING", "").split(",")
                if e.strip() and e.strip() != "aws-chunked"
            ]
            if encodings:
                environ["HTTP_CONTENT_ENCODING"] = ",".join(encodings)
            environ["HTTP_X_AMZ_CONTENT_SHA256"] = "UNSIGNED-PAYLOAD"
            if self.claimed_crc32c:
                environ[header_key(CHECKSUM_HEADER)] = self.claimed_crc32c
        return environ


# --- S3 XML --------------------------------------------------------------------------------

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
ET.register_namespace("", S3_NS)


def local_name(element):
    return element.tag.rsplit("}", 1)[-1]


def child_text(element, name):
    return next((c.text or "" for c in element if local_name(c) == name), None)


def xml_text(body, name):
    """The text of the first element called `name` in an XML document, or None."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    return next((e.text for e in root.iter() if local_name(e) == name), None)


@dataclass
class ListedPart:
    number: int
    etag: str
    crc32c: str | None


def completed_parts(body):
    """The parts a CompleteMultipartUpload body lists, in its order."""
    try:
        root = ET.fromstring(body)
        return [
            ListedPart(
                int(child_text(p, "PartNumber")),
                child_text(p, "ETag") or "",
                child_text(p, "ChecksumCRC32C"),
            )
            for p in root
            if local_name(p) == "Part"
        ]
    except (ET.ParseError, TypeError, ValueError):
        raise S3Error(400, "MalformedXML") from None


def unquoted(etag):
    return (etag or "").strip().strip('"')


# --- what the front remembers --------------------------------------------------------------


@dataclass
class Part:
    crc32c: int
    size: int
    etag: str
    sent_crc32c: bool


@dataclass
class Upload:
    algorithm: str | None = None
    checksum_type: str | None = None
    parts: dict = field(default_factory=dict)
    bucket: str | None = None
    key: str | None = None
    ended: str | None = None  # "completed" or "aborted": no longer an upload in progress

    @property
    def lists_crc32c(self):
        return (self.algorithm or "").upper() == "CRC32C"


class Ledger:
    """Multipart uploads (by upload id) with their parts' CRC32Cs, and whether each is still in
    progress, and the CRC32C of each object written through the front (by bucket and key)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.uploads = {}
        self.objects = {}

    def upload_created(self, upload_id, upload):
        with self.lock:
            self.uploads[upload_id] = upload

    def upload(self, upload_id):
        with self.lock:
            upload = self.uploads.get(upload_id)
            return None if upload is None else dataclasses.replace(upload, parts=dict(upload.parts))

    def in_progress(self, upload_id, bucket, key):
        """Whether the id names an upload in progress of this bucket and key: created through
        the front, and neither completed nor aborted since."""
        with self.lock:
            upload = self.uploads.get(upload_id)
            return (
                upload is not None
                and upload.ended is None
                and (upload.bucket, upload.key) == (bucket, key)
            )

    def part_uploaded(self, upload_id, number, part):
        """(A part that moto took just before its upload ended is not recorded.)"""
        with self.lock:
            upload = self.uploads.get(upload_id)
            if upload is not None and upload.ended is None:
                upload.parts[number] = part

    def upload_completed(self, upload_id):
        self._ended(upload_id, "completed")

    def upload_aborted(self, upload_id):
        self._ended(upload_id, "aborted")

    def _ended(self, upload_id, how):
        """Its id names no upload in progress any more (the record stays, to say so)."""
        with self.lock:
            if upload_id in self.uploads:
                self.uploads[upload_id].ended = how

    def object_written(self, bucket, key, crc):
        """A new object at the key: with the CRC32C S3 reports for it, or None for none."""
        with self.lock:
            if crc is None:
                self.objects.pop((bucket, key), None)
            else:
                self.objects[(bucket, key)] = crc

    def object_crc32c(self, bucket, key):
        with self.lock:
            return self.objects.get((bucket, key))


def is_full_object(request, upload):
    declared = request.header("x-amz-checksum-type") or upload.checksum_type or ""
    return declared.upper() == "FULL_OBJECT"


def reports_full_object_crc32c(request, upload):
    """Whether S3 reports a full-object CRC32C for the completed object."""
    claimed = request.header(CHECKSUM_HEADER) is not None
    return is_full_object(request, upload) and (upload.lists_crc32c or claimed)


def full_object_crc32c(upload_id, upload, listed):
    """The CRC32C of the listed parts, concatenated in order, after S3's checks on the list."""
    previous = 0
    for part in listed:
        if part.number <= previous:
            raise S3Error(400, "InvalidPartOrder")
        previous = part.number
    crc = None
    for part in listed:
        stored = upload.parts.get(part.number)
        if (
            stored is None
            or unquoted(stored.etag) != unquoted(part.etag)
            or (part.crc32c is not None and parse_crc32c_base64(part.crc32c) != stored.crc32c)
        ):
            raise S3Error(
                400, "InvalidPart", UploadId=upload_id, PartNumber=part.number, ETag=part.etag
            )
        crc = stored.crc32c if crc is None else crc32c_combine(crc, stored.crc32c, stored.size)
    return crc


# --- faults --------------------------------------------------------------------------------

DEFAULT_CODES = {
    400: "InvalidRequest",
    403: "AccessDenied",
    404: "NoSuchKey",
    409: "ConditionalRequestConflict",
    412: "PreconditionFailed",
    500: "InternalError",
    503: "SlowDown",
}
HOLD_TIMEOUT_MS = 120_000
SPEC_KEYS = {
    "status",
    "code",
    "count",
    "key_suffix",
    "delay_ms",
    "hold",
    "hold_timeout_ms",
    "corrupt",
    "report_crc32c",
}
MODIFIERS = {"corrupt", "report_crc32c", "delay_ms", "hold"}
BODY_WRITES = ("put_object", "upload_part")
CHECKSUM_READS = ("head_object", "get_object", "list_parts")


def _non_negative_int(op, spec, name, default):
    value = spec.get(name, default)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise ValueError(f"{op}: {name} must be a non-negative integer")
    return value


@dataclass
class Spec:
    """One operation's fault on one bucket. Its options never change once set (a POST replaces
    the spec); its counters change under the Faults lock."""

    error: tuple | None
    remaining: int | None
    key_suffix: str | None
    delay_ms: int
    hold: bool
    hold_timeout_ms: int
    corrupt: bool
    report_crc32c: str | None
    hits: int = 0
    hold_timeouts: int = 0

    @classmethod
    def parse(cls, op, spec):
        if op not in OPERATIONS:
            raise ValueError(f"unknown operation {op!r}; known: {', '.join(OPERATIONS)}")
        if not isinstance(spec, dict):
            raise ValueError(f"{op}: expected an object")
        unknown = spec.keys() - SPEC_KEYS
        if unknown:
            raise ValueError(f"{op}: unknown options {sorted(unknown)}; known: {sorted(SPEC_KEYS)}")
        corrupt = spec.get("corrupt", False) is True
        report = spec.get("report_crc32c")
        if corrupt and op not in BODY_WRITES:
            raise ValueError(f"{op}: corrupt applies to {' and '.join(BODY_WRITES)} only")
        if report is not None and (op not in CHECKSUM_READS or parse_crc32c_base64(report) is None):
            raise ValueError(f"{op}: report_crc32c is a base64 CRC32C, on {CHECKSUM_READS}")
        delay = _non_negative_int(op, spec, "delay_ms", 0)
        hold = spec.get("hold", False) is True
        error = None
        if "status" in spec or "code" in spec or not MODIFIERS & spec.keys():
            if corrupt or report is not None:
                raise ValueError(f"{op}: an error answer cannot also corrupt or report")
            error = cls.parse_error(op, spec)
        return cls(
            error=error,
            remaining=_non_negative_int(op, spec, "count", None),
            key_suffix=spec.get("key_suffix"),
            delay_ms=delay,
            hold=hold,
            hold_timeout_ms=_non_negative_int(op, spec, "hold_timeout_ms", HOLD_TIMEOUT_MS),
            corrupt=corrupt,
            report_crc32c=report,
        )

    @staticmethod
    def parse_error(op, spec):
        status = spec.get("status", 500)
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"{op}: status must be 4xx or 5xx")
        code = spec.get("code")
        if not code and status == 404 and op.startswith("list_") and op != "list_parts":
            code = "NoSuchBucket"
        return status, str(code or DEFAULT_CODES.get(status, "ServiceUnavailable"))

    def applies(self, request):
        if self.key_suffix and not request.key.endswith(self.key_suffix):
            return False
        if self.report_crc32c is not None and not (request.checksum_mode or request.op == "list_parts"):
            return False
        return self.remaining is None or self.remaining > 0

    def state(self, held):
        status, code = self.error or (None, None)
        return {
            "status": status,
            "code": code,
            "remaining": self.remaining,
            "key_suffix": self.key_suffix,
            "hits": self.hits,
            "delay_ms": self.delay_ms,
            "hold": self.hold,
            "held": held,
            "hold_timeouts": self.hold_timeouts,
            "corrupt": self.corrupt,
            "report_crc32c": self.report_crc32c,
        }


@dataclass
class Held:
    op: str
    released: threading.Event = field(default_factory=threading.Event)


class Faults:
    """Fault specs and the owner, by bucket, and the requests held; safe across threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.specs = {}
        self.owners = {}
        self.held = {}

    def state(self, bucket):
        with self.lock:
            held = collections.Counter(h.op for h in self.held.get(bucket, []))
            state = {op: s.state(held[op]) for op, s in self.specs.get(bucket, {}).items()}
            if bucket in self.owners:
                state["bucket_owner"] = self.owners[bucket]
            return state

    def set(self, bucket, body):
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object of operations")
        owner = body.get("bucket_owner")
        if owner is not None and (not isinstance(owner, str) or not owner):
            raise ValueError("bucket_owner must be an account id or null")
        specs = {op: Spec.parse(op, spec) for op, spec in body.items() if op != "bucket_owner"}
        with self.lock:
            self.specs.setdefault(bucket, {}).update(specs)
            if "bucket_owner" in body:
                self.owners.pop(bucket, None)
                if owner is not None:
                    self.owners[bucket] = owner

    def clear(self, bucket):
        with self.lock:
            self.specs.pop(bucket, None)
            self.owners.pop(bucket, None)
        self.release(bucket)

    def owner(self, bucket):
        with self.lock:
            return self.owners.get(bucket)

    def take(self, request):
        """The spec that applies to this request, if one does (counting it)."""
        with self.lock:
            spec = self.specs.get(request.bucket, {}).get(request.op)
            if spec is None or not spec.applies(request):
                return None
            if spec.remaining is not None:
                spec.remaining -= 1
            spec.hits += 1
            return spec

    def hold(self, request, spec):
        """Blocks until this request is released or the spec's hold times out."""
        held = Held(request.op)
        with self.lock:
            self.held.setdefault(request.bucket, []).append(held)
        if held.released.wait(spec.hold_timeout_ms / 1000):
            return
        with self.lock:
            spec.hold_timeouts += 1
            queue = self.held.get(request.bucket, [])
            if held in queue:
                queue.remove(held)

    def release(self, bucket, op=None, count=None):
        """Releases the oldest held requests of the operation (any, when None); how many."""
        with self.lock:
            queue = self.held.get(bucket, [])
            chosen = [h for h in queue if op is None or h.op == op][:count]
            for held in chosen:
                queue.remove(held)
                held.released.set()
            return len(chosen)


# --- chaos ---------------------------------------------------------------------------------

CHAOS_KEYS = {"seed", "percent", "operations"}


@dataclass
class ChaosMode:
    """One bucket's seeded random faults: settings, generator, and counters."""

    seed: int
    percent: int
    operations: tuple
    rng: random.Random
    draws: int = 0
    injected: collections.Counter = field(default_factory=collections.Counter)

    @classmethod
    def parse(cls, body):
        unknown = body.keys() - CHAOS_KEYS
        if unknown:
            raise ValueError(f"chaos: unknown options {sorted(unknown)}; known: {sorted(CHAOS_KEYS)}")
        seed, percent = body.get("seed"), body.get("percent")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError("chaos: seed must be an integer")
        if not isinstance(percent, int) or isinstance(percent, bool) or not 0 <= percent <= 100:
            raise ValueError("chaos: percent must be an integer from 0 to 100")
        operations = body.get("operations", list(OPERATIONS))
        if not isinstance(operations, list) or not operations:
            raise ValueError("chaos: operations must be a non-empty list")
        unknown_ops = [op for op in operations if op not in OPERATIONS]
        if unknown_ops:
            raise ValueError(f"chaos: unknown operations {unknown_ops}; known: {', '.join(OPERATIONS)}")
        # In the fixed order of OPERATIONS, so the list's order does not change what a seed means.
        ordered = tuple(op for op in OPERATIONS if op in operations)
        return cls(seed=seed, percent=percent, operations=ordered, rng=random.Random(seed))

    def state(self):
        return {
            "seed": self.seed,
            "percent": self.percent,
            "operations": list(self.operations),
            "draws": self.draws,
            "injected": dict(sorted(self.injected.items())),
        }


class Chaos:
    """The chaos mode of each bucket; safe across threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.modes = {}

    def endpoint(self, method, bucket, body):
        if not bucket or "/" in bucket:
            raise NotFound("use /_chaos/<bucket>")
        with self.lock:
            if method == "POST":
                self.modes[bucket] = ChaosMode.parse(body)
            elif method == "DELETE":
                mode = self.modes.pop(bucket, None)
                return mode.state() if mode else {}
            elif method != "GET":
                raise ValueError("GET, POST or DELETE /_chaos/<bucket>")
            mode = self.modes.get(bucket)
            return mode.state() if mode else {}

    def strikes(self, request):
        """Whether this request gets a chaos fault (drawing once if the mode applies to it)."""
        with self.lock:
            mode = self.modes.get(request.bucket)
            if mode is None or request.op not in mode.operations:
                return False
            mode.draws += 1
            if mode.rng.randrange(100) >= mode.percent:
                return False
            mode.injected[request.op] += 1
            return True


def chaos_error(request):
    extra = {"BucketName": request.bucket}
    if request.key:
        extra["Key"] = request.key
    return S3Error(500, "InternalError", request_id="CHAOSINJECTED", **extra)


# --- stats ---------------------------------------------------------------------------------

RECORDED_REQUESTS = 5000
RECORDED_HEADERS = re.compile(r"^(x-amz-server-side-encryption.*|if-match|if-none-match)$")


def checksum_form(request):
    if request.header(CHECKSUM_HEADER):
        return "header"
    if (request.header("x-amz-trailer") or "").strip().lower() == CHECKSUM_HEADER:
        return "trailer"
    return None


def recorded_headers(environ):
    headers = {}
    for name, value in environ.items():
        if name.startswith("HTTP_"):
            header = name[5:].lower().replace("_", "-")
            if RECORDED_HEADERS.match(header):
                headers[header] = value
    return headers


@dataclass
class BucketStats:
    operations: dict = field(default_factory=dict)
    requests: collections.deque = field(
        default_factory=lambda: collections.deque(maxlen=RECORDED_REQUESTS)
    )
    dropped: int = 0
    in_flight: int = 0
    peak: int = 0

    def state(self):
        return {
            "operations": {op: dict(counts) for op, counts in self.operations.items()},
            "upload_part_in_flight": {"current": self.in_flight, "peak": self.peak},
            "requests": list(self.requests),
            "requests_dropped": self.dropped,
        }


class Stats:
    """What each bucket was sent, and how many UploadParts it was sent at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.buckets = collections.defaultdict(BucketStats)

    def started(self, request):
        if request.op == "upload_part":
            with self.lock:
                stats = self.buckets[request.bucket]
                stats.in_flight += 1
                stats.peak = max(stats.peak, stats.in_flight)

    def finished(self, request):
        if request.op == "upload_part":
            with self.lock:
                self.buckets[request.bucket].in_flight -= 1

    def answered(self, request, received_bytes, status):
        entry = {
            "operation": request.op,
            "key": request.key,
            "status": status,
            "bytes": received_bytes,
            "checksum": checksum_form(request),
            "expected_bucket_owner": request.header("x-amz-expected-bucket-owner"),
            "headers": recorded_headers(request.environ),
        }
        with self.lock:
            stats = self.buckets[request.bucket]
            counts = stats.operations.setdefault(request.op, {"requests": 0, "bytes_received": 0})
            counts["requests"] += 1
            counts["bytes_received"] += received_bytes
            if len(stats.requests) == RECORDED_REQUESTS:
                stats.dropped += 1
            stats.requests.append(entry)

    def state(self, bucket):
        with self.lock:
            return self.buckets[bucket].state()

    def reset(self, bucket):
        with self.lock:
            in_flight = self.buckets[bucket].in_flight
            self.buckets[bucket] = BucketStats(in_flight=in_flight, peak=in_flight)


# --- the front -----------------------------------------------------------------------------


class NotFound(Exception):
    pass


class KeyLocks:
    """One lock per bucket and key, for the writes to it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.locks = {}

    def __call__(self, bucket, key):
        with self.lock:
            return self.locks.setdefault((bucket, key), threading.Lock())


class ClosingBody:
    """A response body that runs `on_close` once the server has sent it."""

    def __init__(self, body, on_close):
        self.body = body
        self.on_close = on_close

    def __iter__(self):
        return iter([self.body])

    def close(self):
        self.on_close()


def send(start_response, request, answer, on_close):
    try:
        reason = HTTPStatus(answer.status).phrase
    except ValueError:
        reason = "Error"
    start_response(f"{answer.status} {reason}", answer.headers)
    return ClosingBody(b"" if request.method == "HEAD" else answer.body, on_close)


def json_answer(start_response, status, value):
    body = value.encode() if isinstance(value, str) else json.dumps(value).encode()
    content_type = "text/plain" if isinstance(value, str) else "application/json"
    reason = HTTPStatus(status).phrase
    start_response(
        f"{status} {reason}", [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    )
    return [body]


class Front:
    """WSGI middleware: the control endpoints, and S3 requests served as S3 would, with moto
    behind for storage."""

    def __init__(self, app):
        self.app = app
        self.faults = Faults()
        self.chaos = Chaos()
        self.stats = Stats()
        self.ledger = Ledger()
        self.key_locks = KeyLocks()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_faults/"):
            return self.control(environ, start_response, self.faults_endpoint, path[9:])
        if path.startswith("/_stats/"):
            return self.control(environ, start_response, self.stats_endpoint, path[8:])
        if path.startswith("/_chaos/"):
            return self.control(environ, start_response, self.chaos.endpoint, path[8:])
        request = s3_request(environ)
        if request is None:
            return self.app(environ, start_response)
        self.stats.started(request)
        try:
            answer = self.answer(request)
        except BaseException:
            self.stats.finished(request)
            raise
        return send(start_response, request, answer, lambda: self.stats.finished(request))

    # The control API.

    def control(self, environ, start_response, endpoint, rest):
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            raw = read_body(environ)
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            return json_answer(start_response, 200, endpoint(method, rest, body))
        except NotFound as e:
            return json_answer(start_response, 404, str(e))
        except (ValueError, TypeError, S3Error) as e:
            return json_answer(start_response, 400, str(e))

    def faults_endpoint(self, method, rest, body):
        bucket, _, action = rest.partition("/")
        if not bucket or action not in ("", "release"):
            raise NotFound("use /_faults/<bucket> or /_faults/<bucket>/release")
        if action == "release" and method == "POST":
            op, count = body.get("operation"), _non_negative_int("release", body, "count", None)
            if op is not None and op not in OPERATIONS:
                raise ValueError(f"unknown operation {op!r}")
            return {"released": self.faults.release(bucket, op, count)}
        if action == "" and method == "POST":
            self.faults.set(bucket, body)
        elif action == "" and method == "DELETE":
            self.faults.clear(bucket)
        elif action != "" or method != "GET":
            raise ValueError("GET, POST or DELETE /_faults/<bucket>; POST …/release")
        return self.faults.state(bucket)

    def stats_endpoint(self, method, bucket, _body):
        if not bucket or "/" in bucket:
            raise NotFound("use /_stats/<bucket>")
        if method == "DELETE":
            self.stats.reset(bucket)
        elif method != "GET":
            raise ValueError("GET or DELETE /_stats/<bucket>")
        return self.stats.state(bucket)

    # S3 requests.

    def answer(self, request):
        if self.chaos.strikes(request):
            raw = read_body(request.environ)
            answer = chaos_error(request).answer()
            self.stats.answered(request, len(raw), answer.status)
            return answer
        spec = self.faults.take(request)
        raw = b""
        try:
            if spec is not None:
                self.stall(request, spec)
            raw = read_body(request.environ)
            if spec is not None and spec.error is not None:
                raise self.fault_error(request, spec)
            answer = self.serve(request, raw, spec)
        except S3Error as error:
            answer = error.answer()
        self.stats.answered(request, len(raw), answer.status)
        return answer

    def stall(self, request, spec):
        if spec.delay_ms:
            time.sleep(spec.delay_ms / 1000)
        if spec.hold:
            self.faults.hold(request, spec)

    @staticmethod
    def fault_error(request, spec):
        status, code = spec.error
        extra = {"BucketName": request.bucket}
        if request.key:
            extra["Key"] = request.key
        return S3Error(status, code, request_id="FAULTINJECTED", **extra)

    def serve(self, request, raw, spec):
        owner = self.faults.owner(request.bucket)
        expected = request.header("x-amz-expected-bucket-owner")
        if owner is not None and expected is not None and expected != owner:
            raise S3Error(403, "AccessDenied")
        received = Received.parse(request, raw)
        if spec is not None and spec.corrupt:
            received.corrupt()
        if request.op in BODY_WRITES:
            received.verify_crc32c(request)
        received.verify_sha256(request)
        handler = getattr(self, f"serve_{request.op}", self.forward)
        return handler(request, received, spec)

    def forward(self, request, received, _spec=None):
        """moto's answer to the request, whole."""
        return self.call_moto(received.environ_for_moto(request.environ))

    def call_moto(self, environ):
        captured = []

        def start_response(status, headers, exc_info=None):
            captured[:] = [int(status.split()[0]), list(headers)]
            return lambda _data: None

        result = self.app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return Answer(captured[0], captured[1], body)

    def serve_put_object(self, request, received, _spec):
        with self.key_locks(request.bucket, request.key):
            answer = self.forward(request, received)
            if answer.ok:
                crc = received.crc32c if received.claimed_crc32c else None
                self.ledger.object_written(request.bucket, request.key, crc)
        return answer

    def require_upload_in_progress(self, request):
        """404 NoSuchUpload unless the request's upload id names an upload in progress."""
        if not self.ledger.in_progress(request.param("uploadId"), request.bucket, request.key):
            raise no_such_upload(request)

    def serve_upload_part(self, request, received, _spec):
        self.require_upload_in_progress(request)
        answer = self.forward(request, received)
        if answer.status >= 500:
            # moto answers 500 when the upload was completed or aborted while the part was on
            # its way; both hold the key's lock until the ledger knows.
            with self.key_locks(request.bucket, request.key):
                self.require_upload_in_progress(request)
        if answer.ok:
            part = Part(
                received.crc32c,
                len(received.payload),
                answer.header("ETag") or "",
                received.claimed_crc32c is not None,
            )
            number = int(request.param("partNumber"))
            self.ledger.part_uploaded(request.param("uploadId"), number, part)
        return answer

    def serve_create_multipart_upload(self, request, received, _spec):
        answer = self.forward(request, received)
        upload_id = xml_text(answer.body, "UploadId") if answer.ok else None
        if upload_id:
            upload = Upload(
                request.header("x-amz-checksum-algorithm"),
                request.header("x-amz-checksum-type"),
                bucket=request.bucket,
                key=request.key,
            )
            self.ledger.upload_created(upload_id, upload)
        return answer

    def serve_complete_multipart_upload(self, request, received, _spec):
        upload_id = request.param("uploadId")
        self.require_upload_in_progress(request)
        upload = self.ledger.upload(upload_id)
        crc = None
        if upload is not None:
            crc = full_object_crc32c(upload_id, upload, completed_parts(received.payload))
            self.check_full_object_claim(request, upload, crc)
        with self.key_locks(request.bucket, request.key):
            # Again under the lock: a concurrent completion or abort of the upload may have won.
            self.require_upload_in_progress(request)
            self.check_if_match(request)
            answer = self.forward(request, received)
            if answer.ok:
                self.ledger.upload_completed(upload_id)
                reported = upload is not None and reports_full_object_crc32c(request, upload)
                self.ledger.object_written(request.bucket, request.key, crc if reported else None)
        return answer

    @staticmethod
    def check_full_object_claim(request, upload, crc):
        claimed = request.header(CHECKSUM_HEADER)
        mismatch = claimed is not None and parse_crc32c_base64(claimed) != crc
        if mismatch and is_full_object(request, upload):
            raise S3Error(400, "BadDigest")

    def check_if_match(self, request):
        """S3's If-Match on CompleteMultipartUpload (moto ignores it): 404 NoSuchKey without an
        object, 412 PreconditionFailed when its ETag differs. (A retried completion of an upload
        already completed never gets here: it is NoSuchUpload.)"""
        expected = request.header("If-Match")
        if not expected:
            return
        current = self.current_etag(request)
        if current is None:
            raise S3Error(404, "NoSuchKey", Key=request.key)
        if unquoted(expected) != unquoted(current):
            raise S3Error(412, "PreconditionFailed", Condition="If-Match")

    def current_etag(self, request):
        """The ETag of the object at the request's key, from moto, or None if there is none."""
        environ = {
            k: v
            for k, v in request.environ.items()
            if not k.startswith(("HTTP_IF_", "HTTP_RANGE", "HTTP_X_AMZ_CHECKSUM", "CONTENT_"))
        }
        environ.update(REQUEST_METHOD="HEAD", QUERY_STRING="", CONTENT_LENGTH="0")
        environ["wsgi.input"] = io.BytesIO(b"")
        environ.pop("wsgi.input_terminated", None)
        answer = self.call_moto(environ)
        return answer.header("ETag") if answer.ok else None

    def serve_abort_multipart_upload(self, request, received, _spec):
        # Under the key's lock, as a completion is, so that of the two exactly one finds the
        # upload in progress, and the ledger knows before the lock is released.
        with self.key_locks(request.bucket, request.key):
            self.require_upload_in_progress(request)
            answer = self.forward(request, received)
            if answer.ok:
                self.ledger.upload_aborted(request.param("uploadId"))
        return answer

    def serve_list_parts(self, request, received, spec):
        self.require_upload_in_progress(request)
        answer = self.forward(request, received)
        upload = self.ledger.upload(request.param("uploadId"))
        if answer.ok and upload is not None:
            lie = spec.report_crc32c if spec is not None else None
            answer.body = list_parts_with_checksums(answer.body, upload, lie)
            answer.with_length()
        return answer

    def serve_head_object(self, request, received, spec):
        answer = self.forward(request, received)
        if answer.status == 200 and request.checksum_mode:
            lie = spec.report_crc32c if spec is not None else None
            crc = self.ledger.object_crc32c(request.bucket, request.key)
            value = lie or (crc32c_base64(crc) if crc is not None else None)
            if value is not None:
                answer.drop_headers("x-amz-checksum-")
                answer.headers += [(CHECKSUM_HEADER, value), ("x-amz-checksum-type", "FULL_OBJECT")]
        return answer

    serve_get_object = serve_head_object

    def serve_delete_object(self, request, received, _spec):
        with self.key_locks(request.bucket, request.key):
            expected = request.header("If-Match")
            if expected:
                # S3's conditional delete: 404 without an object, 412 when its ETag differs
                # (moto deletes whatever is there).
                current = self.current_etag(request)
                if current is None:
                    raise S3Error(404, "NoSuchKey", Key=request.key)
                if expected != "*" and unquoted(expected) != unquoted(current):
                    raise S3Error(412, "PreconditionFailed", Condition="If-Match")
            answer = self.forward(request, received)
            if answer.ok:
                self.ledger.object_written(request.bucket, request.key, None)
        return answer


def list_parts_with_checksums(body, upload, lie=None):
    """moto's ListPartsResult with each part's ChecksumCRC32C (or `lie` for every part), and the
    upload's ChecksumAlgorithm and ChecksumType, as S3 lists them."""
    root = ET.fromstring(body)
    namespace = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    for element in root:
        if local_name(element) != "Part":
            continue
        part = upload.parts.get(int(child_text(element, "PartNumber")))
        if part is not None and (part.sent_crc32c or upload.lists_crc32c):
            listed = lie or crc32c_base64(part.crc32c)
            ET.SubElement(element, f"{namespace}ChecksumCRC32C").text = listed
    for name, value in (
        ("ChecksumAlgorithm", upload.algorithm),
        ("ChecksumType", upload.checksum_type),
    ):
        if value and child_text(root, name) is None:
            ET.SubElement(root, f"{namespace}{name}").text = value
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


_run_simple = moto.server.run_simple


def _run_simple_behind_front(hostname, port, application, **kwargs):
    return _run_simple(hostname, port, Front(application), **kwargs)


moto.server.run_simple = _run_simple_behind_front

if __name__ == "__main__":
    sys.exit(moto.server.main(sys.argv[1:]))
