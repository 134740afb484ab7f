"""moto_server, one request at a time.

moto's own server handles requests on threads, and its DynamoDB backend does not lock across
them: two concurrent TransactWriteItems with the same condition can both pass. Real DynamoDB makes
each conditional write and each transaction atomic. Serving one request at a time gives the tests
that same guarantee, so the concurrency tests measure our use of conditions, not moto's races.

It also applies moto_cfn_patches (change-set outputs, "No updates are to be performed",
per-resource stack events, Secret/Stage/Alarm models).

Usage: moto_serial.py HOST PORT
"""

import os
import signal
import sys

import moto_cfn_patches  # noqa: F401  (CloudFormation fixes, applied on import)
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
