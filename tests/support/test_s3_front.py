"""Tests of the strict S3 front (moto_server.py), through a real server on loopback.

Run from the worktree root: `.venv/bin/python -m unittest tests/support/test_s3_front.py`.

The server is started as the Rust harness starts it (`python moto_server.py -H 127.0.0.1 -p
PORT`), and driven with boto3 (path-style, dummy credentials, no retries) and, for request forms
boto3 does not send over plain HTTP, with raw `http.client` requests. Which form each request
took is read back from the front's own record (`/_stats/<bucket>`, field "checksum").
Concurrency is arranged with the front's hold/release faults and polling of its state with a
deadline, never with sleeps.
"""

import base64
import collections
import concurrent.futures
import hashlib
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import time
import unittest
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import boto3
import botocore.exceptions
import crc32c
from botocore.config import Config
from botocore.httpchecksum import AwsChunkedWrapper

SUPPORT = Path(__file__).resolve().parent
sys.path.insert(0, str(SUPPORT))
import moto_server  # noqa: E402  (the front's CRC32C combine, tested on its own)

S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
PART = 5 * 1024 * 1024  # S3's smallest part but the last
AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/s3/aws4_request, "
    "SignedHeaders=host, Signature=00"
)
DEADLINE_S = 20

SERVER = None
ENDPOINT = None
HOST_PORT = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setUpModule():
    global SERVER, ENDPOINT, HOST_PORT
    port = free_port()
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    SERVER = subprocess.Popen(
        [sys.executable, str(SUPPORT / "moto_server.py"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    HOST_PORT = ("127.0.0.1", port)
    ENDPOINT = f"http://127.0.0.1:{port}"
    wait_for(lambda: connectable(HOST_PORT), "the server to listen", limit=60)


def tearDownModule():
    SERVER.terminate()
    SERVER.wait(timeout=10)


def connectable(address):
    try:
        socket.create_connection(address, timeout=1).close()
        return True
    except OSError:
        return False


def wait_for(predicate, what, limit=DEADLINE_S):
    """Polls `predicate` until it is true; fails after `limit` seconds."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def s3():
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 1},
            max_pool_connections=20,
        ),
    )


def b64crc(data):
    return base64.b64encode(crc32c.crc32c(data).to_bytes(4, "big")).decode()


def request(method, path, body=b"", headers=None):
    """A raw HTTP request: (status, headers, body)."""
    conn = http.client.HTTPConnection(*HOST_PORT, timeout=60)
    try:
        conn.request(
            method,
            path,
            body=body,
            headers=headers or {},
            encode_chunked=not isinstance(body, bytes),
        )
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def s3_request(method, path, body=b"", headers=None):
    """A raw S3 request, with an Authorization header that routes it to moto's S3."""
    return request(method, path, body, {"Authorization": AUTHORIZATION, **(headers or {})})


def control(method, path, body=None):
    status, _, data = request(method, path, json.dumps(body).encode() if body is not None else b"")
    if status != 200:
        raise AssertionError(f"{method} {path}: {status} {data!r}")
    return json.loads(data)


def faults(bucket, specs=None):
    return control("POST", f"/_faults/{bucket}", specs or {})


def stats(bucket):
    return control("GET", f"/_stats/{bucket}")


def error_code(call, *args, **kwargs):
    """The S3 error code and HTTP status that `call(*args, **kwargs)` fails with."""
    try:
        call(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("the call succeeded")


def xml_error(body):
    """An S3 error document (S3 writes it without a namespace): code and root tag."""
    root = ET.fromstring(body)
    return root.findtext("Code"), root.tag


class Crc32cChecksum:
    """A botocore checksum class for CRC32C (botocore has one only with awscrt installed)."""

    def __init__(self):
        self.crc = 0

    def update(self, chunk):
        self.crc = crc32c.crc32c(chunk, self.crc)

    def b64digest(self):
        return base64.b64encode(self.crc.to_bytes(4, "big")).decode()


class LyingCrc32cChecksum(Crc32cChecksum):
    def b64digest(self):
        return base64.b64encode((self.crc ^ 1).to_bytes(4, "big")).decode()


def botocore_trailer_request(payload, honest=True):
    """Body and headers as botocore sends a CRC32C over TLS: HTTP chunked transfer of an
    unsigned aws-chunked body with the checksum as a trailer (botocore's own encoder)."""
    wrapper = AwsChunkedWrapper(
        io.BytesIO(payload),
        checksum_cls=Crc32cChecksum if honest else LyingCrc32cChecksum,
        checksum_name="x-amz-checksum-crc32c",
        chunk_size=64 * 1024,
    )
    headers = {
        "Content-Encoding": "aws-chunked",
        "X-Amz-Trailer": "x-amz-checksum-crc32c",
        "X-Amz-Decoded-Content-Length": str(len(payload)),
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "x-amz-sdk-checksum-algorithm": "CRC32C",
    }
    return iter(lambda: wrapper.read(8192), b""), headers


def rust_sdk_trailer_request(payload, checksum, signed):
    """Body and headers in the aws-chunked form of aws-sdk-s3 1.x (aws-runtime's
    AwsChunkedBody): Content-Length framing, 64 KiB chunks, `;chunk-signature=` lines and an
    `x-amz-trailer-signature` when signing over plain HTTP, the checksum as a trailer."""
    signature = ";chunk-signature=" + "0" * 64 if signed else ""
    chunks = [payload[i : i + 65536] for i in range(0, len(payload), 65536)]
    body = b"".join(b"%x%s\r\n%s\r\n" % (len(c), signature.encode(), c) for c in chunks)
    body += b"0%s\r\nx-amz-checksum-crc32c:%s\r\n" % (signature.encode(), checksum.encode())
    if signed:
        body += b"x-amz-trailer-signature:" + b"0" * 64 + b"\r\n"
    body += b"\r\n"
    headers = {
        "Content-Length": str(len(body)),
        "Content-Encoding": "aws-chunked",
        "X-Amz-Trailer": "x-amz-checksum-crc32c",
        "X-Amz-Decoded-Content-Length": str(len(payload)),
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
        if signed
        else "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "x-amz-sdk-checksum-algorithm": "CRC32C",
    }
    return body, headers


TRAILER_FORMS = {
    "botocore (HTTP chunked, unsigned)": lambda p, honest: botocore_trailer_request(p, honest),
    "aws-sdk-s3 unsigned": lambda p, honest: rust_sdk_trailer_request(
        p, b64crc(p) if honest else b64crc(p + b"x"), signed=False
    ),
    "aws-sdk-s3 signed chunks": lambda p, honest: rust_sdk_trailer_request(
        p, b64crc(p) if honest else b64crc(p + b"x"), signed=True
    ),
}


class FrontTest(unittest.TestCase):
    def setUp(self):
        self.s3 = s3()
        self.bucket = f"front-{uuid.uuid4().hex[:12]}"
        self.s3.create_bucket(Bucket=self.bucket)
        self.addCleanup(control, "DELETE", f"/_faults/{self.bucket}")

    def put(self, key, body, **kwargs):
        return self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ChecksumAlgorithm="CRC32C",
            ChecksumCRC32C=b64crc(body),
            **kwargs,
        )

    def head_crc(self, key):
        out = self.s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        return out.get("ChecksumCRC32C"), out.get("ChecksumType")

    def exists(self, key):
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
            return True
        except botocore.exceptions.ClientError as e:
            self.assertEqual(e.response["Error"]["Code"], "404")
            return False

    def create_upload(self, key):
        return self.s3.create_multipart_upload(
            Bucket=self.bucket, Key=key, ChecksumAlgorithm="CRC32C", ChecksumType="FULL_OBJECT"
        )["UploadId"]

    def upload_part(self, key, upload_id, number, body, checksum=None):
        out = self.s3.upload_part(
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm="CRC32C",
            ChecksumCRC32C=checksum or b64crc(body),
        )
        return {"PartNumber": number, "ETag": out["ETag"], "ChecksumCRC32C": b64crc(body)}

    def complete(self, key, upload_id, parts, checksum=None, **kwargs):
        extra = {"ChecksumCRC32C": checksum, "ChecksumType": "FULL_OBJECT"} if checksum else {}
        return self.s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
            **extra,
            **kwargs,
        )

    def open_uploads(self):
        out = self.s3.list_multipart_uploads(Bucket=self.bucket)
        return [u["UploadId"] for u in out.get("Uploads", [])]

    def two_part_upload(self, key):
        """An open upload of two parts (5 MiB and 3 bytes): id, parts, and the whole body."""
        upload_id = self.create_upload(key)
        first, second = os.urandom(PART), b"end"
        parts = [
            self.upload_part(key, upload_id, 1, first),
            self.upload_part(key, upload_id, 2, second),
        ]
        return upload_id, parts, first + second

    def last_request(self, operation):
        return [r for r in stats(self.bucket)["requests"] if r["operation"] == operation][-1]


class Crc32cCombineTest(unittest.TestCase):
    def test_combine_equals_the_crc_of_the_concatenation(self):
        for len_a, len_b in [
            (0, 0),
            (1, 0),
            (0, 1),
            (3, 5),
            (100, 1),
            (4096, 8191),
            (PART, 3),
            (7, PART + 17),
        ]:
            a, b = os.urandom(len_a), os.urandom(len_b)
            with self.subTest(len_a=len_a, len_b=len_b):
                self.assertEqual(
                    moto_server.crc32c_combine(crc32c.crc32c(a), crc32c.crc32c(b), len_b),
                    crc32c.crc32c(a + b),
                )

    def test_combine_folds_many_parts(self):
        parts = [os.urandom(n) for n in (10, 1, 4097, 65536, 0, 33)]
        crc = crc32c.crc32c(parts[0])
        for part in parts[1:]:
            crc = moto_server.crc32c_combine(crc, crc32c.crc32c(part), len(part))
        self.assertEqual(crc, crc32c.crc32c(b"".join(parts)))


class WriteChecksumTest(FrontTest):
    def test_put_with_a_wrong_header_checksum_is_bad_digest_and_stores_nothing(self):
        code = error_code(
            lambda: self.s3.put_object(
                Bucket=self.bucket,
                Key="k",
                Body=b"hello",
                ChecksumAlgorithm="CRC32C",
                ChecksumCRC32C=b64crc(b"hellO"),
            )
        )
        self.assertEqual(code, ("BadDigest", 400))
        self.assertFalse(self.exists("k"))
        self.assertEqual(self.last_request("put_object")["checksum"], "header")

    def test_put_with_the_right_header_checksum_stores_and_head_reports_it(self):
        self.put("k", b"hello")
        self.assertEqual(self.head_crc("k"), (b64crc(b"hello"), "FULL_OBJECT"))
        got = self.s3.get_object(Bucket=self.bucket, Key="k", ChecksumMode="ENABLED")
        self.assertEqual(got["Body"].read(), b"hello")
        self.assertEqual(got["ChecksumCRC32C"], b64crc(b"hello"))
        # boto3 over plain HTTP sends the checksum as a header, not a trailer.
        self.assertEqual(self.last_request("put_object")["checksum"], "header")

    def test_put_with_a_trailer_checksum_in_each_aws_chunked_form(self):
        payload = os.urandom(150_000)  # three chunks of aws-sdk-s3's 64 KiB
        for form, build in TRAILER_FORMS.items():
            for honest in (True, False):
                key = f"{form}-{honest}".replace(" ", "-")
                with self.subTest(form=form, honest=honest):
                    body, headers = build(payload, honest)
                    status, _, answer = s3_request("PUT", f"/{self.bucket}/{key}", body, headers)
                    self.assertEqual(self.last_request("put_object")["checksum"], "trailer")
                    if honest:
                        self.assertEqual(status, 200, answer)
                        got = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                        self.assertEqual(got, payload)
                        self.assertEqual(self.head_crc(key), (b64crc(payload), "FULL_OBJECT"))
                    else:
                        self.assertEqual((status, xml_error(answer)), (400, ("BadDigest", "Error")))
                        self.assertFalse(self.exists(key))

    def test_aws_sdk_s3_header_form_with_its_x_id_parameters(self):
        """aws-sdk-s3 given `.checksum_crc32_c(value)` and an in-memory body sends the value as
        a header, with a signed payload hash, and adds `x-id=<Operation>` to the query."""
        upload_id = self.create_upload("m")
        for path, operation in (
            (f"/{self.bucket}/k?x-id=PutObject", "put_object"),
            (f"/{self.bucket}/m?x-id=UploadPart&partNumber=1&uploadId={upload_id}", "upload_part"),
        ):
            for checksum, expected in ((b64crc(b"body!"), 400), (b64crc(b"body"), 200)):
                with self.subTest(operation=operation, expected=expected):
                    headers = {
                        "x-amz-checksum-crc32c": checksum,
                        "x-amz-sdk-checksum-algorithm": "CRC32C",
                        "x-amz-content-sha256": hashlib.sha256(b"body").hexdigest(),
                    }
                    status, _, answer = s3_request("PUT", path, b"body", headers)
                    self.assertEqual(status, expected, answer)
                    self.assertEqual(self.last_request(operation)["checksum"], "header")
        status, _, body = s3_request("GET", f"/{self.bucket}/m?x-id=ListParts&uploadId={upload_id}")
        part = ET.fromstring(body).find(f"{S3_NS}Part")
        self.assertEqual(part.findtext(f"{S3_NS}ChecksumCRC32C"), b64crc(b"body"))

    def test_a_claimed_algorithm_without_a_checksum_is_refused(self):
        status, _, answer = s3_request(
            "PUT", f"/{self.bucket}/k", b"data", {"x-amz-sdk-checksum-algorithm": "CRC32C"}
        )
        self.assertEqual((status, xml_error(answer)[0]), (400, "InvalidRequest"))
        self.assertFalse(self.exists("k"))

    def test_a_body_that_does_not_match_its_sha256_is_refused(self):
        headers = {"x-amz-content-sha256": hashlib.sha256(b"other").hexdigest()}
        status, _, answer = s3_request("PUT", f"/{self.bucket}/k", b"data", headers)
        self.assertEqual((status, xml_error(answer)[0]), (400, "XAmzContentSHA256Mismatch"))
        self.assertFalse(self.exists("k"))

    def test_upload_part_with_a_wrong_checksum_is_refused_and_not_listed(self):
        upload_id = self.create_upload("m")
        code = error_code(lambda: self.upload_part("m", upload_id, 1, b"abc", b64crc(b"abd")))
        self.assertEqual(code, ("BadDigest", 400))
        listed = self.s3.list_parts(Bucket=self.bucket, Key="m", UploadId=upload_id)
        self.assertEqual(listed.get("Parts", []), [])

    def test_list_parts_lists_each_parts_checksum_and_the_last_upload_of_a_part_wins(self):
        upload_id = self.create_upload("m")
        self.upload_part("m", upload_id, 1, b"first try")
        self.upload_part("m", upload_id, 1, b"second try")
        body, headers = botocore_trailer_request(b"part two")
        status, _, answer = s3_request(
            "PUT", f"/{self.bucket}/m?partNumber=2&uploadId={upload_id}", body, headers
        )
        self.assertEqual(status, 200, answer)
        listed = self.s3.list_parts(Bucket=self.bucket, Key="m", UploadId=upload_id)
        self.assertEqual(
            [(p["PartNumber"], p["ChecksumCRC32C"], p["Size"]) for p in listed["Parts"]],
            [(1, b64crc(b"second try"), 10), (2, b64crc(b"part two"), 8)],
        )
        self.assertEqual(
            (listed["ChecksumAlgorithm"], listed["ChecksumType"]), ("CRC32C", "FULL_OBJECT")
        )


class CompletionTest(FrontTest):
    def test_a_wrong_full_object_checksum_is_refused_and_the_upload_stays_open(self):
        upload_id, parts, whole = self.two_part_upload("m")
        lie = b64crc(whole + b"!")
        code = error_code(lambda: self.complete("m", upload_id, parts, checksum=lie))
        self.assertEqual(code, ("BadDigest", 400))
        self.assertIn(upload_id, self.open_uploads())
        self.assertFalse(self.exists("m"))

        self.complete("m", upload_id, parts, checksum=b64crc(whole))
        self.assertEqual(self.head_crc("m"), (b64crc(whole), "FULL_OBJECT"))
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="m")["Body"].read(), whole)

    def test_head_reports_the_computed_checksum_when_the_client_claims_none(self):
        upload_id, parts, whole = self.two_part_upload("m")
        self.complete("m", upload_id, [{k: p[k] for k in ("PartNumber", "ETag")} for p in parts])
        self.assertEqual(self.head_crc("m"), (b64crc(whole), "FULL_OBJECT"))

    def test_the_part_list_is_checked_as_s3_checks_it(self):
        upload_id, parts, _ = self.two_part_upload("m")
        wrong_etag = [parts[0], {**parts[1], "ETag": '"0123456789abcdef0123456789abcdef"'}]
        wrong_crc = [{**parts[0], "ChecksumCRC32C": parts[1]["ChecksumCRC32C"]}, parts[1]]
        missing = [parts[0], {**parts[1], "PartNumber": 3}]
        cases = {
            "descending": (list(reversed(parts)), "InvalidPartOrder"),
            "repeated": ([parts[0], parts[0]], "InvalidPartOrder"),
            "wrong ETag": (wrong_etag, "InvalidPart"),
            "wrong part checksum": (wrong_crc, "InvalidPart"),
            "missing part": (missing, "InvalidPart"),
        }
        for name, (listed, code) in cases.items():
            with self.subTest(name):
                self.assertEqual(error_code(self.complete, "m", upload_id, listed), (code, 400))
                self.assertIn(upload_id, self.open_uploads())
        self.complete("m", upload_id, parts)
        self.assertTrue(self.exists("m"))

    def test_delete_forgets_the_checksum(self):
        self.put("k", b"v1")
        self.s3.delete_object(Bucket=self.bucket, Key="k")
        self.assertFalse(self.exists("k"))
        self.s3.put_object(Bucket=self.bucket, Key="k", Body=b"v2")  # no CRC32C this time
        self.assertIsNone(self.head_crc("k")[0])


class FaultTest(FrontTest):
    def prepare(self):
        """A call for each operation that succeeds unfaulted, on fresh state each time."""
        self.put("obj", b"object")
        upload_id = self.create_upload("mp")
        parts = [self.upload_part("mp", upload_id, 1, b"p1")]
        open_upload = self.create_upload("abort")
        listed_upload = self.create_upload("listed")
        b = self.bucket
        return {
            "put_object": lambda: self.put("new", b"new"),
            "create_multipart_upload": lambda: self.create_upload("other"),
            "upload_part": lambda: self.upload_part("mp", upload_id, 2, b"p2"),
            "complete_multipart_upload": lambda: self.complete("mp", upload_id, parts),
            "abort_multipart_upload": lambda: self.s3.abort_multipart_upload(
                Bucket=b, Key="abort", UploadId=open_upload
            ),
            "list_parts": lambda: self.s3.list_parts(
                Bucket=b, Key="listed", UploadId=listed_upload
            ),
            "head_object": lambda: self.s3.head_object(Bucket=b, Key="obj"),
            "get_object": lambda: self.s3.get_object(Bucket=b, Key="obj"),
            "delete_object": lambda: self.s3.delete_object(Bucket=b, Key="obj"),
            "list_objects": lambda: self.s3.list_objects_v2(Bucket=b),
            "list_multipart_uploads": lambda: self.s3.list_multipart_uploads(Bucket=b),
        }

    def test_each_operation_fails_exactly_count_times(self):
        calls = self.prepare()
        self.assertEqual(set(calls), set(moto_server.OPERATIONS))
        for op, call in calls.items():
            with self.subTest(op):
                faults(self.bucket, {op: {"status": 503, "code": "SlowDown", "count": 2}})
                for _ in range(2):
                    code, status = error_code(call)
                    self.assertEqual(status, 503)
                    # A HEAD answer has no body, so the SDK knows only the status.
                    self.assertEqual(code, "503" if op == "head_object" else "SlowDown")
                call()
                state = faults(self.bucket)[op]
                self.assertEqual((state["hits"], state["remaining"]), (2, 0))

    def test_client_errors_carry_s3s_codes(self):
        self.put("k", b"x")
        faults(
            self.bucket,
            {
                "put_object": {"status": 403},
                "list_objects": {"status": 404},
                "get_object": {"status": 412},
            },
        )
        self.assertEqual(error_code(lambda: self.put("k", b"y")), ("AccessDenied", 403))
        self.assertEqual(
            error_code(lambda: self.s3.list_objects_v2(Bucket=self.bucket)), ("NoSuchBucket", 404)
        )
        self.assertEqual(
            error_code(lambda: self.s3.get_object(Bucket=self.bucket, Key="k")),
            ("PreconditionFailed", 412),
        )

    def test_a_key_suffix_limits_the_fault(self):
        faults(self.bucket, {"put_object": {"status": 500, "key_suffix": ".manifest.json"}})
        self.put("data.gz", b"x")
        self.assertEqual(
            error_code(lambda: self.put("data.gz.manifest.json", b"{}")), ("InternalError", 500)
        )
        self.assertEqual(faults(self.bucket)["put_object"]["hits"], 1)

    def test_the_existing_spec_shapes_still_work(self):
        state = faults(
            self.bucket, {"upload_part": {"status": 500, "count": 2}, "put_object": {"count": 1}}
        )
        self.assertEqual(
            {k: state["upload_part"][k] for k in ("status", "code", "remaining", "hits")},
            {"status": 500, "code": "InternalError", "remaining": 2, "hits": 0},
        )
        self.assertEqual(state["put_object"]["status"], 500)
        self.assertEqual(error_code(lambda: self.put("k", b"x")), ("InternalError", 500))
        self.put("k", b"x")
        for bad in (
            {"nope": {}},
            {"put_object": {"corrupted": True}},
            {"head_object": {"corrupt": True}},
            {"put_object": {"status": 200}},
        ):
            with self.subTest(bad=bad):
                status, _, _ = request("POST", f"/_faults/{self.bucket}", json.dumps(bad).encode())
                self.assertEqual(status, 400)

    def test_corruption_in_transit_is_bad_digest(self):
        upload_id = self.create_upload("m")
        faults(
            self.bucket,
            {
                "upload_part": {"corrupt": True, "count": 1},
                "put_object": {"corrupt": True, "count": 1},
            },
        )
        self.assertEqual(
            error_code(lambda: self.upload_part("m", upload_id, 1, b"part")), ("BadDigest", 400)
        )
        self.assertEqual(error_code(lambda: self.put("k", b"object")), ("BadDigest", 400))
        self.assertFalse(self.exists("k"))
        self.upload_part("m", upload_id, 1, b"part")
        self.put("k", b"object")
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="k")["Body"].read(), b"object")

    def test_corruption_without_a_checksum_is_caught_by_the_payload_sha256(self):
        faults(self.bucket, {"put_object": {"corrupt": True, "count": 1}})
        headers = {"x-amz-content-sha256": hashlib.sha256(b"object").hexdigest()}
        status, _, answer = s3_request("PUT", f"/{self.bucket}/k", b"object", headers)
        self.assertEqual((status, xml_error(answer)[0]), (400, "XAmzContentSHA256Mismatch"))

    def test_head_object_can_lie_about_the_checksum(self):
        self.put("k", b"data")
        faults(self.bucket, {"head_object": {"report_crc32c": "AAAAAA==", "count": 1}})
        self.s3.head_object(Bucket=self.bucket, Key="k")  # no checksum asked: no lie spent
        self.assertEqual(faults(self.bucket)["head_object"]["hits"], 0)
        self.assertEqual(self.head_crc("k"), ("AAAAAA==", "FULL_OBJECT"))
        self.assertEqual(self.head_crc("k"), (b64crc(b"data"), "FULL_OBJECT"))
        self.assertEqual(faults(self.bucket)["head_object"]["hits"], 1)

    def test_list_parts_can_lie_about_the_part_checksums(self):
        upload_id = self.create_upload("m")
        self.upload_part("m", upload_id, 1, b"one")
        self.upload_part("m", upload_id, 2, b"two")
        faults(self.bucket, {"list_parts": {"report_crc32c": "AAAAAA==", "count": 1}})
        listed = lambda: [
            p["ChecksumCRC32C"]
            for p in self.s3.list_parts(Bucket=self.bucket, Key="m", UploadId=upload_id)["Parts"]
        ]
        self.assertEqual(listed(), ["AAAAAA==", "AAAAAA=="])
        self.assertEqual(listed(), [b64crc(b"one"), b64crc(b"two")])
        self.assertEqual(faults(self.bucket)["list_parts"]["hits"], 1)

    def test_a_conditional_delete_deletes_only_the_object_it_names(self):
        first = self.s3.put_object(Bucket=self.bucket, Key="k", Body=b"first")["ETag"]
        second = self.s3.put_object(Bucket=self.bucket, Key="k", Body=b"second")["ETag"]
        with self.assertRaises(botocore.exceptions.ClientError) as refused:
            self.s3.delete_object(Bucket=self.bucket, Key="k", IfMatch=first)
        self.assertEqual(refused.exception.response["Error"]["Code"], "PreconditionFailed")
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="k")["Body"].read(), b"second")
        self.s3.delete_object(Bucket=self.bucket, Key="k", IfMatch=second)
        with self.assertRaises(botocore.exceptions.ClientError) as gone:
            self.s3.head_object(Bucket=self.bucket, Key="k")
        self.assertEqual(gone.exception.response["Error"]["Code"], "404")

    def test_delay_holds_a_request_that_long(self):
        self.put("k", b"data")
        faults(self.bucket, {"head_object": {"delay_ms": 300, "count": 1}})
        started = time.monotonic()
        self.s3.head_object(Bucket=self.bucket, Key="k")
        self.assertGreaterEqual(time.monotonic() - started, 0.3)
        self.s3.head_object(Bucket=self.bucket, Key="k")
        self.assertEqual(faults(self.bucket)["head_object"]["hits"], 1)  # not the second

    def held(self, op):
        return faults(self.bucket).get(op, {}).get("held", 0)

    def test_held_uploads_are_in_flight_at_once_until_released(self):
        upload_id = self.create_upload("m")
        faults(self.bucket, {"upload_part": {"hold": True}})
        n = 4
        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            futures = [
                pool.submit(self.upload_part, "m", upload_id, i, b"part %d" % i)
                for i in range(1, n + 1)
            ]
            wait_for(lambda: self.held("upload_part") == n, f"{n} held parts")
            self.assertEqual(stats(self.bucket)["upload_part_in_flight"], {"current": n, "peak": n})
            self.assertFalse(any(f.done() for f in futures))

            released = control(
                "POST", f"/_faults/{self.bucket}/release", {"operation": "upload_part", "count": 1}
            )
            self.assertEqual(released, {"released": 1})
            wait_for(lambda: sum(f.done() for f in futures) == 1, "one part answered")
            self.assertEqual(self.held("upload_part"), n - 1)

            self.assertEqual(
                control("POST", f"/_faults/{self.bucket}/release", {}), {"released": n - 1}
            )
            for f in futures:
                f.result()
        wait_for(
            lambda: stats(self.bucket)["upload_part_in_flight"]["current"] == 0, "no part in flight"
        )
        self.assertEqual(stats(self.bucket)["upload_part_in_flight"]["peak"], n)
        listed = self.s3.list_parts(Bucket=self.bucket, Key="m", UploadId=upload_id)
        self.assertEqual(len(listed["Parts"]), n)

    def test_clearing_the_faults_releases_held_requests(self):
        self.put("k", b"data")
        faults(self.bucket, {"get_object": {"hold": True}})
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            future = pool.submit(self.s3.get_object, Bucket=self.bucket, Key="k")
            wait_for(lambda: self.held("get_object") == 1, "a held GetObject")
            control("DELETE", f"/_faults/{self.bucket}")
            self.assertEqual(future.result(timeout=DEADLINE_S)["Body"].read(), b"data")

    def test_a_hold_times_out(self):
        self.put("k", b"data")
        faults(self.bucket, {"head_object": {"hold": True, "hold_timeout_ms": 200, "count": 1}})
        started = time.monotonic()
        self.s3.head_object(Bucket=self.bucket, Key="k")
        self.assertGreaterEqual(time.monotonic() - started, 0.2)
        state = faults(self.bucket)["head_object"]
        self.assertEqual((state["held"], state["hold_timeouts"]), (0, 1))


class ChaosTest(FrontTest):
    ROUNDS = 6

    def calls(self):
        """One call per operation and round, each exactly one request that succeeds without
        chaos however often it is repeated (uploads to complete and abort are made up front)."""
        b = self.bucket
        self.put("obj", b"object")
        listed = self.create_upload("listed")
        to_finish = []
        for _ in range(self.ROUNDS):
            upload_id = self.create_upload("done")
            to_finish.append((upload_id, [self.upload_part("done", upload_id, 1, b"part")]))
        to_abort = [self.create_upload("abort") for _ in range(self.ROUNDS)]
        return {
            "put_object": lambda _: self.put("new", b"new"),
            "create_multipart_upload": lambda _: self.create_upload("other"),
            "upload_part": lambda _: self.upload_part("listed", listed, 1, b"p1"),
            "complete_multipart_upload": lambda i: self.complete("done", *to_finish[i]),
            "abort_multipart_upload": lambda i: self.s3.abort_multipart_upload(
                Bucket=b, Key="abort", UploadId=to_abort[i]
            ),
            "list_parts": lambda _: self.s3.list_parts(Bucket=b, Key="listed", UploadId=listed),
            "head_object": lambda _: self.s3.head_object(Bucket=b, Key="obj"),
            "get_object": lambda _: self.s3.get_object(Bucket=b, Key="obj"),
            "delete_object": lambda _: self.s3.delete_object(Bucket=b, Key="absent"),
            "list_objects": lambda _: self.s3.list_objects_v2(Bucket=b),
            "list_multipart_uploads": lambda _: self.s3.list_multipart_uploads(Bucket=b),
        }

    def chaos_run(self, seed):
        """On a fresh bucket, chaos at 40 % on every operation: what each call saw, and the
        chaos state after."""
        self.bucket = f"chaos-{uuid.uuid4().hex[:12]}"
        self.s3.create_bucket(Bucket=self.bucket)
        self.addCleanup(control, "DELETE", f"/_chaos/{self.bucket}")
        calls = self.calls()
        self.assertEqual(set(calls), set(moto_server.OPERATIONS))
        state = control("POST", f"/_chaos/{self.bucket}", {"seed": seed, "percent": 40})
        self.assertEqual(
            (state["draws"], state["injected"], state["operations"]),
            (0, {}, list(moto_server.OPERATIONS)),
        )
        seen = []
        for i in range(self.ROUNDS):
            for op in moto_server.OPERATIONS:
                try:
                    calls[op](i)
                    seen.append((op, "ok"))
                except botocore.exceptions.ClientError as e:
                    status = e.response["ResponseMetadata"]["HTTPStatusCode"]
                    seen.append((op, f"{status} {e.response['Error']['Code']}"))
        return seen, control("GET", f"/_chaos/{self.bucket}")

    def test_a_seed_decides_which_requests_fail_500_on_every_operation(self):
        seen, state = self.chaos_run(7)
        failed = collections.Counter(op for op, outcome in seen if outcome != "ok")
        for op, outcome in seen:
            # A HEAD answer has no body, so the SDK knows only the status.
            self.assertIn(outcome, ("ok", "500 InternalError", "500 500"), op)
        # Each call was one request: every one drew, every failure was injected, and only those.
        self.assertEqual(state["draws"], len(seen))
        self.assertEqual(state["injected"], dict(sorted(failed.items())))
        # About 40 % of 66 draws (26 expected; binomial spread).
        self.assertTrue(10 <= sum(failed.values()) <= 45, failed)
        self.assertEqual(sum(r["status"] == 500 for r in stats(self.bucket)["requests"]), sum(
            failed.values()
        ))
        # The same seed on a fresh bucket: the same outcomes; another seed: others.
        again, again_state = self.chaos_run(7)
        self.assertEqual(again, seen)
        self.assertEqual(again_state, state)
        other, _ = self.chaos_run(8)
        self.assertNotEqual(other, seen)

    def test_chaos_limited_to_some_operations_and_turned_off(self):
        self.addCleanup(control, "DELETE", f"/_chaos/{self.bucket}")
        self.put("k", b"x")
        control(
            "POST",
            f"/_chaos/{self.bucket}",
            {"seed": 1, "percent": 100, "operations": ["list_parts", "head_object"]},
        )
        self.assertEqual(error_code(self.s3.head_object, Bucket=self.bucket, Key="k"), ("500", 500))
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="k")["Body"].read(), b"x")
        state = control("DELETE", f"/_chaos/{self.bucket}")
        self.assertEqual((state["draws"], state["injected"]), (1, {"head_object": 1}))
        self.s3.head_object(Bucket=self.bucket, Key="k")
        self.assertEqual(control("GET", f"/_chaos/{self.bucket}"), {})
        for bad in (
            {"percent": 5},
            {"seed": 1, "percent": 101},
            {"seed": 1, "percent": 5, "operations": ["copy_object"]},
            {"seed": 1, "percent": 5, "rate": 2},
        ):
            status, _, _ = request("POST", f"/_chaos/{self.bucket}", json.dumps(bad).encode())
            self.assertEqual(status, 400, bad)


class OwnerAndStatsTest(FrontTest):
    def test_a_different_expected_owner_is_denied(self):
        self.put("k", b"x")
        self.assertEqual(
            faults(self.bucket, {"bucket_owner": "111122223333"})["bucket_owner"], "111122223333"
        )
        self.assertEqual(
            error_code(self.put, "k", b"y", ExpectedBucketOwner="999999999999"),
            ("AccessDenied", 403),
        )
        self.assertEqual(
            error_code(
                lambda: self.s3.list_objects_v2(
                    Bucket=self.bucket, ExpectedBucketOwner="999999999999"
                )
            ),
            ("AccessDenied", 403),
        )
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="k")["Body"].read(), b"x")
        self.put("k", b"z", ExpectedBucketOwner="111122223333")
        owners = [
            r["expected_bucket_owner"]
            for r in stats(self.bucket)["requests"]
            if r["operation"] == "put_object"
        ]
        self.assertEqual(owners, [None, "999999999999", "111122223333"])

        control("DELETE", f"/_faults/{self.bucket}")
        self.put("k", b"w", ExpectedBucketOwner="999999999999")

    def test_stats_record_requests_headers_and_bytes(self):
        self.put("k", b"12345", ServerSideEncryption="AES256", IfNoneMatch="*")
        entry = self.last_request("put_object")
        self.assertEqual(
            entry["headers"], {"x-amz-server-side-encryption": "AES256", "if-none-match": "*"}
        )
        self.assertEqual((entry["key"], entry["status"], entry["bytes"]), ("k", 200, 5))
        self.assertEqual(
            stats(self.bucket)["operations"]["put_object"], {"requests": 1, "bytes_received": 5}
        )
        control("DELETE", f"/_stats/{self.bucket}")
        self.assertEqual(stats(self.bucket)["requests"], [])

    def test_requests_for_other_services_pass_by(self):
        lambda_auth = AUTHORIZATION.replace("/s3/", "/lambda/")
        request("GET", "/2015-03-31/functions/", headers={"Authorization": lambda_auth})
        self.assertEqual(stats("2015-03-31")["operations"], {})


class ConditionalWriteTest(FrontTest):
    def test_put_preconditions(self):
        etag = self.put("k", b"v1")["ETag"]
        self.assertEqual(
            error_code(lambda: self.put("k", b"v2", IfNoneMatch="*")), ("PreconditionFailed", 412)
        )
        self.assertEqual(
            error_code(lambda: self.put("k", b"v2", IfMatch='"0"')), ("PreconditionFailed", 412)
        )
        # S3: "If there's no current object version with the same name ... the operation
        # fails with a 404 Not Found error."
        self.assertEqual(
            error_code(lambda: self.put("absent", b"v", IfMatch=etag)), ("NoSuchKey", 404)
        )
        self.put("k", b"v2", IfMatch=etag)
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="k")["Body"].read(), b"v2")

    def test_complete_preconditions(self):
        etag = self.put("k", b"v1")["ETag"]
        upload_id, parts, whole = self.two_part_upload("k")
        for kwargs, code in (
            ({"IfNoneMatch": "*"}, ("PreconditionFailed", 412)),
            ({"IfMatch": '"0"'}, ("PreconditionFailed", 412)),
        ):
            with self.subTest(**kwargs):
                self.assertEqual(error_code(self.complete, "k", upload_id, parts, **kwargs), code)
                self.assertIn(upload_id, self.open_uploads())
        self.complete("k", upload_id, parts, IfMatch=etag)
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="k")["Body"].read(), whole)

        other_id, other_parts, _ = self.two_part_upload("absent")
        self.assertEqual(
            error_code(lambda: self.complete("absent", other_id, other_parts, IfMatch=etag)),
            ("NoSuchKey", 404),
        )

    def test_of_concurrent_if_none_match_puts_exactly_one_wins(self):
        n = 4
        faults(self.bucket, {"put_object": {"hold": True, "count": n}})

        def put(i):
            try:
                self.put("k", b"writer %d" % i, IfNoneMatch="*")
                return i
            except botocore.exceptions.ClientError as e:
                return e.response["Error"]["Code"]

        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            futures = [pool.submit(put, i) for i in range(n)]
            wait_for(lambda: faults(self.bucket)["put_object"]["held"] == n, "held writers")
            control("POST", f"/_faults/{self.bucket}/release", {})
            results = [f.result() for f in futures]
        winners = [r for r in results if isinstance(r, int)]
        self.assertEqual(len(winners), 1, results)
        self.assertEqual(
            sorted(r for r in results if not isinstance(r, int)), ["PreconditionFailed"] * (n - 1)
        )
        body = self.s3.get_object(Bucket=self.bucket, Key="k")["Body"].read()
        self.assertEqual(body, b"writer %d" % winners[0])

    def test_of_concurrent_if_none_match_completions_exactly_one_wins(self):
        uploads = [self.two_part_upload("k") for _ in range(2)]
        faults(self.bucket, {"complete_multipart_upload": {"hold": True}})

        def complete(upload):
            upload_id, parts, _ = upload
            try:
                self.complete("k", upload_id, parts, IfNoneMatch="*")
                return "ok"
            except botocore.exceptions.ClientError as e:
                return e.response["Error"]["Code"]

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(complete, u) for u in uploads]
            wait_for(
                lambda: faults(self.bucket)["complete_multipart_upload"]["held"] == 2,
                "held completions",
            )
            control("POST", f"/_faults/{self.bucket}/release", {})
            self.assertEqual(sorted(f.result() for f in futures), ["PreconditionFailed", "ok"])


class UploadNotInProgressTest(FrontTest):
    """UploadPart, ListParts, CompleteMultipartUpload and AbortMultipartUpload on an upload id
    that names no upload in progress are 404 NoSuchUpload, as on S3 (moto answers UploadPart,
    and a completion of an aborted upload, 500, and a repeated completion 200)."""

    OPERATIONS = (
        "upload_part",
        "list_parts",
        "complete_multipart_upload",
        "abort_multipart_upload",
    )

    def calls(self, key, upload_id, parts):
        """A raw request of each operation on the upload: (status, headers, body)."""
        path = f"/{self.bucket}/{key}?uploadId={upload_id}"
        body = b"more"
        completion = "".join(
            f"<Part><PartNumber>{p['PartNumber']}</PartNumber><ETag>{p['ETag']}</ETag></Part>"
            for p in parts
        )
        return {
            "upload_part": lambda: s3_request(
                "PUT", f"{path}&partNumber=3", body, {"x-amz-checksum-crc32c": b64crc(body)}
            ),
            "list_parts": lambda: s3_request("GET", path),
            "complete_multipart_upload": lambda: s3_request(
                "POST",
                path,
                f"<CompleteMultipartUpload>{completion}</CompleteMultipartUpload>".encode(),
            ),
            "abort_multipart_upload": lambda: s3_request("DELETE", path),
        }

    def assert_no_such_upload(self, answer, upload_id):
        """S3's answer: 404, an Error document with code NoSuchUpload, its message, the upload
        id, and a RequestId that the x-amz-request-id header repeats."""
        status, headers, body = answer
        self.assertEqual(status, 404, body)
        self.assertEqual(headers.get("content-type"), "application/xml")
        root = ET.fromstring(body)
        self.assertEqual((root.tag, root.findtext("Code")), ("Error", "NoSuchUpload"))
        self.assertEqual(root.findtext("Message"), moto_server.MESSAGES["NoSuchUpload"])
        self.assertEqual(root.findtext("UploadId"), upload_id)
        self.assertTrue(root.findtext("RequestId") and root.findtext("HostId"))
        self.assertEqual(headers.get("x-amz-request-id"), root.findtext("RequestId"))

    def assert_every_operation_is_no_such_upload(self, key, upload_id, parts):
        for op, call in self.calls(key, upload_id, parts).items():
            with self.subTest(op):
                self.assert_no_such_upload(call(), upload_id)
        # Each was answered by the front, not by a fault, and nothing reached moto's upload.
        answered = [r for r in stats(self.bucket)["requests"] if r["operation"] in self.OPERATIONS]
        self.assertEqual(
            [(r["operation"], r["status"]) for r in answered[-4:]],
            [(op, 404) for op in self.calls(key, upload_id, parts)],
        )

    def test_a_completed_upload(self):
        upload_id, parts, whole = self.two_part_upload("m")
        self.complete("m", upload_id, parts)
        self.assert_every_operation_is_no_such_upload("m", upload_id, parts)
        # The completed object is untouched by all that.
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="m")["Body"].read(), whole)
        self.assertEqual(self.head_crc("m"), (b64crc(whole), "FULL_OBJECT"))

    def test_an_aborted_upload(self):
        upload_id, parts, _ = self.two_part_upload("m")
        self.s3.abort_multipart_upload(Bucket=self.bucket, Key="m", UploadId=upload_id)
        self.assert_every_operation_is_no_such_upload("m", upload_id, parts)
        self.assertFalse(self.exists("m"))
        self.assertNotIn(upload_id, self.open_uploads())

    def test_an_unknown_upload_or_another_keys_upload(self):
        self.assert_every_operation_is_no_such_upload("m", "no-such-upload-id", [])
        upload_id, parts, _ = self.two_part_upload("m")
        self.assert_every_operation_is_no_such_upload("other", upload_id, parts)
        # The upload of "m" is still in progress, with its two parts.
        listed = self.s3.list_parts(Bucket=self.bucket, Key="m", UploadId=upload_id)["Parts"]
        self.assertEqual([p["PartNumber"] for p in listed], [1, 2])
        self.complete("m", upload_id, parts)
        self.assertTrue(self.exists("m"))

    def test_an_upload_in_progress_serves_every_operation(self):
        upload_id, parts, whole = self.two_part_upload("m")
        calls = self.calls("m", upload_id, parts)

        status, headers, _ = calls["upload_part"]()  # part 3, "more", listed but not completed
        self.assertEqual(status, 200)
        self.assertTrue(headers.get("etag"))
        status, _, body = calls["list_parts"]()
        self.assertEqual(status, 200, body)
        root = ET.fromstring(body)
        numbers = [p.findtext(f"{S3_NS}PartNumber") for p in root.iter(f"{S3_NS}Part")]
        self.assertEqual(numbers, ["1", "2", "3"])
        status, _, body = calls["complete_multipart_upload"]()
        root = ET.fromstring(body)
        self.assertEqual((status, root.tag), (200, f"{S3_NS}CompleteMultipartUploadResult"))
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="m")["Body"].read(), whole)

        other = self.create_upload("n")
        self.upload_part("n", other, 1, b"n")
        status, _, body = self.calls("n", other, [])["abort_multipart_upload"]()
        self.assertEqual(status, 204, body)
        self.assertEqual(self.open_uploads(), [])

    def test_an_upload_ended_while_a_part_was_with_moto(self):
        """moto's 500 to an UploadPart whose upload was aborted meanwhile is NoSuchUpload (in
        process, with moto replaced by a stub that aborts the upload as it answers)."""
        from werkzeug.test import Client

        created_body = (
            b"<InitiateMultipartUploadResult><UploadId>u1</UploadId>"
            b"</InitiateMultipartUploadResult>"
        )

        def stub(environ, start_response):
            if "uploads" in environ["QUERY_STRING"]:
                start_response("200 OK", [("Content-Type", "application/xml")])
                return [created_body]
            front.ledger.upload_aborted("u1")  # the abort won the race
            start_response("500 Internal Server Error", [("Content-Type", "text/html")])
            return [b"<h1>KeyError</h1>"]

        front = moto_server.Front(stub)
        client = Client(front)
        auth = {"Authorization": AUTHORIZATION}
        created = client.post("/b/k?uploads", headers=auth)
        self.assertEqual(created.status_code, 200)
        answer = client.put("/b/k?partNumber=1&uploadId=u1", data=b"x", headers=auth)
        self.assert_no_such_upload(
            (answer.status_code, {k.lower(): v for k, v in answer.headers.items()}, answer.data),
            "u1",
        )


class XmlTest(FrontTest):
    def test_answers_parse_as_s3_xml(self):
        status, headers, body = s3_request(
            "PUT", f"/{self.bucket}/k", b"abc", {"x-amz-checksum-crc32c": b64crc(b"abd")}
        )
        self.assertEqual((status, headers["content-type"]), (400, "application/xml"))
        root = ET.fromstring(body)  # S3's error documents have no namespace
        self.assertEqual(root.tag, "Error")
        self.assertEqual(root.findtext("Code"), "BadDigest")
        self.assertTrue(root.findtext("Message") and root.findtext("RequestId"))

        faults(self.bucket, {"list_objects": {"status": 500, "count": 1}})
        status, _, body = s3_request("GET", f"/{self.bucket}?list-type=2")
        self.assertEqual((status, xml_error(body)), (500, ("InternalError", "Error")))

        upload_id = self.create_upload("m")
        self.upload_part("m", upload_id, 1, b"one")
        status, _, body = s3_request("GET", f"/{self.bucket}/m?uploadId={upload_id}")
        root = ET.fromstring(body)
        self.assertEqual((status, root.tag), (200, f"{S3_NS}ListPartsResult"))
        self.assertEqual(root.findtext(f"{S3_NS}Part/{S3_NS}ChecksumCRC32C"), b64crc(b"one"))
        self.assertEqual(root.findtext(f"{S3_NS}ChecksumAlgorithm"), "CRC32C")
        self.assertEqual(root.findtext(f"{S3_NS}ChecksumType"), "FULL_OBJECT")


if __name__ == "__main__":
    unittest.main()
