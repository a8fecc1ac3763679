"""moto's server answering one request at a time.

moto_server always serves requests on threads, and its DynamoDB backend does
not lock around a condition check and the write it guards: two concurrent
conditional puts of the same key can both succeed there, which DynamoDB
never allows. The team-mode tests race writers against the table on purpose,
so they run moto like this, one request at a time, which gives each
conditional write the atomicity the real service promises.

Usage: python moto_serial.py PORT
"""

import os
import sys

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

port = int(sys.argv[1])
os.environ.setdefault("MOTO_PORT", str(port))
app = DomainDispatcherApplication(create_backend_app)
run_simple("127.0.0.1", port, app, threaded=False, use_reloader=False)
