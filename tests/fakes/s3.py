"""A real S3 API on 127.0.0.1: moto's server (the S3 wire protocol, signatures checked loosely) on a
free port, in threads of the test process; the daemon under test reaches it over loopback.

moto keeps its buckets in this process, so stopping the server and starting it again on the same
port is an object store that went away and came back with its data.
"""

from __future__ import annotations

import threading
import uuid
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import boto3
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from tests.support.daemon import free_port

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

KEY_ID = "tpbridge-test-key"
SECRET = "tpbridge-test-secret-0123456789"


class _OneRequestPerConnection(MotoRequestHandler):
    protocol_version = "HTTP/1.0"


class FakeS3:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.bucket = f"tpb-{uuid.uuid4().hex[:12]}"
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """moto's ThreadedMotoServer, but one request per connection: a kept-alive connection would
        outlive `stop` (its handler thread goes on serving), and the bucket would not really be gone."""
        self._server = make_server("127.0.0.1", self.port, DomainDispatcherApplication(create_backend_app),
                                   threaded=True, request_handler=_OneRequestPerConnection)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None

    async def __aenter__(self) -> Self:
        self.start()
        self.client().create_bucket(Bucket=self.bucket)
        return self

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def client(self) -> S3Client:
        return boto3.session.Session().client("s3", endpoint_url=self.url, region_name="us-east-1",
                                              aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)

    def objects(self) -> dict[str, bytes]:
        """Every object in the bucket by key, with its bytes as stored."""
        client = self.client()
        found = client.list_objects_v2(Bucket=self.bucket).get("Contents", [])
        return {o["Key"]: client.get_object(Bucket=self.bucket, Key=o["Key"])["Body"].read() for o in found}

    def settings(self, prefix: str = "", **extra: Any) -> dict[str, Any]:
        """An `[attachments]` table pointing at this server (credentials inline)."""
        return {"backend": "s3", "bucket": self.bucket, "prefix": prefix, "endpoint_url": self.url,
                "region": "us-east-1", "access_key_id": KEY_ID, "secret_access_key": SECRET, **extra}

    def toml(self, prefix: str = "") -> str:
        """The same table as TOML, the credentials as `env:` references (see `env`)."""
        return (f'[attachments]\nbackend = "s3"\nbucket = "{self.bucket}"\nprefix = "{prefix}"\n'
                f'endpoint_url = "{self.url}"\nregion = "us-east-1"\n'
                'access_key_id = "env:TPB_S3_KEY_ID"\nsecret_access_key = "env:TPB_S3_SECRET"\n')

    env = {"TPB_S3_KEY_ID": KEY_ID, "TPB_S3_SECRET": SECRET}
