"""moto's S3 server for the tests, with one fix.

moto 5.2.5 answers ListParts with the root element <ListPartsResponse>; S3 (and aws-sdk-s3,
which checks) use <ListPartsResult>. This wrapper renames it, then runs moto's own server
with the arguments given (e.g. `-H 127.0.0.1 -p 5000`). Nothing else is changed.
"""

import sys

from moto.s3.responses import S3Response
from moto.server import main

_list_parts = S3Response.list_parts


def _list_parts_result(self):
    status, headers, body = _list_parts(self)
    if isinstance(body, str):
        body = body.replace("ListPartsResponse", "ListPartsResult")
    elif isinstance(body, bytes):
        body = body.replace(b"ListPartsResponse", b"ListPartsResult")
    return status, headers, body


S3Response.list_parts = _list_parts_result

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
