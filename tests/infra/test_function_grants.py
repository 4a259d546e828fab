"""The function's role grants what its code calls, on the resources it calls them on, and no
more S3 actions than that.

The S3 operations are read from the source (src/store/s3.rs: every `.client.<operation>()`),
so a new call without a grant, or a grant no call needs, fails here instead of in the first
deployment (where it would be a 403, a non-retryable S3WriteRejected).

Run with the other infra checks: .venv/bin/python -m unittest discover -s tests/infra
"""

from __future__ import annotations

import re
import unittest

from test_template import ROOT, Stack, as_list

S3_STORE = ROOT / "src" / "store" / "s3.rs"

# The IAM action each S3 API operation needs (Service Authorization Reference, Amazon S3), and
# on what: the objects under the prefix, or the bucket.
S3_ACTIONS = {
    "put_object": ("s3:PutObject", "object"),
    "create_multipart_upload": ("s3:PutObject", "object"),
    "upload_part": ("s3:PutObject", "object"),
    "complete_multipart_upload": ("s3:PutObject", "object"),
    "abort_multipart_upload": ("s3:AbortMultipartUpload", "object"),
    "list_parts": ("s3:ListMultipartUploadParts", "object"),
    "head_object": ("s3:GetObject", "object"),
    "get_object": ("s3:GetObject", "object"),
    "delete_object": ("s3:DeleteObject", "object"),
    "list_multipart_uploads": ("s3:ListBucketMultipartUploads", "bucket"),
    "list_objects_v2": ("s3:ListBucket", "bucket"),
}

# The IAM action a request parameter needs beside its operation's, on what: a PutObject that
# tags its object (`.tagging(`) needs s3:PutObjectTagging too.
S3_PARAMETER_ACTIONS = {
    "tagging": ("s3:PutObjectTagging", "object"),
}

# Granted on the bucket without an operation of its own: HeadObject of a missing key answers 404
# instead of 403 only with it (a backfill's plan looks for manifests that way).
BUCKET_EXTRA = {"s3:ListBucket"}


def s3_operations() -> set[str]:
    source = S3_STORE.read_text()
    return set(re.findall(r"\.client\s*\.\s*([a-z_]+)\(\)", source))


def s3_parameters() -> set[str]:
    source = S3_STORE.read_text()
    return {name for name in S3_PARAMETER_ACTIONS if re.search(rf"\.{name}\(", source)}


class FunctionGrants(unittest.TestCase):
    def grants(self, stack: Stack) -> dict[str, set[str]]:
        """S3 action -> the resources it is granted on."""
        granted: dict[str, set[str]] = {}
        for statement in stack.role_statements("ExportFunctionRole"):
            if statement.get("Effect") != "Allow":
                continue
            for action in as_list(statement["Action"]):
                if action.startswith("s3:"):
                    granted.setdefault(action, set()).update(as_list(statement["Resource"]))
        return granted

    def test_the_source_calls_only_operations_this_table_knows(self):
        operations = s3_operations()
        self.assertGreaterEqual(len(operations), 10, operations)
        self.assertEqual(set(), operations - set(S3_ACTIONS), "add each new operation's IAM action")

    def test_every_s3_call_is_granted_and_nothing_else(self):
        for params in ({}, {"ExistingBucketName": "team-logs", "ExistingBucketOwner": "111122223333"}):
            stack = Stack(params)
            bucket = "<LogsBucket>" if not params else "team-logs"
            on = {
                "object": f"arn:aws:s3:::{bucket}/fauna-logs/*",
                "bucket": f"arn:aws:s3:::{bucket}",
            }
            granted = self.grants(stack)
            needed: dict[str, set[str]] = {}
            for operation in s3_operations():
                action, resource = S3_ACTIONS[operation]
                needed.setdefault(action, set()).add(on[resource])
            for parameter in s3_parameters():
                action, resource = S3_PARAMETER_ACTIONS[parameter]
                needed.setdefault(action, set()).add(on[resource])
            for action in BUCKET_EXTRA:
                needed.setdefault(action, set()).add(on["bucket"])
            self.assertEqual(needed, granted, params)


if __name__ == "__main__":
    unittest.main()
