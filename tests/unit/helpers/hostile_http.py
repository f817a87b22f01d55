"""A tiny HTTP server on 127.0.0.1 that answers each route as a test tells it: well, badly, slowly or not at all.

    with HostileServer({"/x": json_answer({"a": 1}), "/slow": drip(b"..." , 0.2)}) as server:
        server.url + "/x"

An answer is a function of the handler; the helpers below build the usual ones. A route not in the table is a 404.
"""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def answer(status=200, body=b"", content_type="application/json", length=True):
    """A whole answer at once; length=False leaves Content-Length out (the body ends when the server closes)."""
    def send(handler):
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        if length:
            handler.send_header("Content-Length", str(len(body)))
        else:
            handler.close_connection = True
        handler.end_headers()
        handler.wfile.write(body)
    return send


def json_answer(value, status=200):
    return answer(status, json.dumps(value).encode())


def html_answer(status=200):
    return answer(status, b"<!DOCTYPE html>\n<html><body>Welcome to nginx!</body></html>\n", "text/html")


def drip(body, every, status=200):
    """Headers at once (Content-Length of the whole body), then one byte every `every` seconds."""
    def send(handler):
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        for index in range(len(body)):
            handler.wfile.write(body[index:index + 1])
            handler.wfile.flush()
            time.sleep(every)
    return send


def silence(seconds):
    """Accept the request and send nothing for `seconds`."""
    def send(handler):
        time.sleep(seconds)
        handler.close_connection = True
    return send


def lines_then_silence(lines, seconds):
    """A streaming answer (chunked NDJSON) that sends `lines`, then stays silent."""
    def send(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/x-ndjson")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for line in lines:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            handler.wfile.flush()
        time.sleep(seconds)
        handler.close_connection = True
    return send


class HostileServer:
    """ThreadingHTTPServer in a daemon thread; `requests` records (method, path, headers) of each request."""

    def __init__(self, routes):
        self.routes = routes
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                server.requests.append((self.command, self.path, dict(self.headers)))
                send = server.routes.get(self.path)
                if send is None:
                    send = answer(404, b'{"error": "no such route"}')
                try:
                    send(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up, as it should

            do_GET = do_POST = do_DELETE = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc_info):
        self.server.shutdown()
        self.server.server_close()


def free_port():
    """A port nothing listens on (a refused connection)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port
