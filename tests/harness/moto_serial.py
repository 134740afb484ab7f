"""moto_server, one request at a time.

moto's own server handles requests on threads, and its DynamoDB backend does not lock across
them: two concurrent TransactWriteItems with the same condition can both pass. Real DynamoDB makes
each conditional write and each transaction atomic. Serving one request at a time gives the tests
that same guarantee, so the concurrency tests measure our use of conditions, not moto's races.

It also applies moto_cfn_patches (change-set outputs, "No updates are to be performed",
per-resource stack events, Secret/Stage/Alarm models).

It binds the port itself and prints it as its first line of output: with PORT 0 the kernel picks
a free one, so there is no gap between choosing a port and listening on it in which another test's
server could take it (or a probe could connect to the wrong server).

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
from werkzeug.serving import make_server


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(host, port, app, threaded=False, request_handler=MotoRequestHandler)
    # moto builds some URLs (Lambda, SQS) from MOTO_PORT.
    os.environ["MOTO_PORT"] = str(server.port)
    print(server.port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
