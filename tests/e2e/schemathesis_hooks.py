"""schemathesis hooks for tests/e2e/test_openapi.py (SCHEMATHESIS_HOOKS=schemathesis_hooks):
how to put an NDJSON body on the wire (batches, directory imports). A generated string
is sent as is; any other value as one JSON line."""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson_serializer(ctx, value):
    if isinstance(value, bytes):
        return {"data": value}
    if isinstance(value, str):
        return {"data": value.encode("utf-8", "surrogatepass")}
    return {"data": (json.dumps(value) + "\n").encode()}
