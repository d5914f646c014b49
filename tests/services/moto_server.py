"""moto's S3 server, with conditional writes made atomic.

moto checks `If-None-Match` / `If-Match` and then stores the object in two steps, so
two racing conditional PUTs can both pass the check; S3 itself decides atomically. The
registry's concurrency tests race real processes against this server, so conditional
requests are serialised here, as S3 would order them. Usage: moto_server.py HOST PORT
"""

import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


def serialised(environ, start_response):
    if environ.get("HTTP_IF_NONE_MATCH") or environ.get("HTTP_IF_MATCH"):
        with lock:
            return list(app(environ, start_response))
    return app(environ, start_response)


run_simple(sys.argv[1], int(sys.argv[2]), serialised, threaded=True)
