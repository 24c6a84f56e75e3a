"""Shared bits of the voting app's web pods (python3 stdlib only)."""
import argparse
import http.server
import os
import socket
import sys


def base_parser(description, port):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--name", default=os.environ.get("POD_NAME", socket.gethostname()),
                        help="the pod name shown on every page")
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=port)
    return parser


def host_port(text, default_port):
    host, _, port = text.rpartition(":")
    return (host, int(port)) if host else (text, default_port)


def log(name, message):
    print("%s: %s" % (name, message), file=sys.stdout, flush=True)


class Handler(http.server.BaseHTTPRequestHandler):
    """Logs the peer address of every request (the e2e tests and the demo read it)."""
    protocol_version = "HTTP/1.1"
    server_version = "nodeplane-demo"
    pod_name = "?"

    def log_message(self, fmt, *args):
        log(self.pod_name, "peer=%s:%d %s" % (self.client_address[0], self.client_address[1], fmt % args))

    def send_body(self, code, body, content_type="text/html; charset=utf-8", headers=()):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Served-By", self.pod_name)
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode(errors="replace") if length else ""


def serve(args, handler_class):
    handler_class.pod_name = args.name
    server = http.server.ThreadingHTTPServer((args.bind, args.port), handler_class)
    server.daemon_threads = True
    log(args.name, "listening on %s:%d" % (args.bind, args.port))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
