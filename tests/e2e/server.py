#!/usr/bin/env python3
"""Backends for the end-to-end tests (python3 stdlib only). Each names itself
and logs the peer address of every connection or datagram on stdout.

  server.py http --name web-1 --port 8080   GET -> "name=web-1 peer=IP:PORT"
  server.py tcp  --name echo-1 --port 9000  each line L -> "echo-1: L"
  server.py udp  --name dns-1 --port 5353   each datagram D -> "dns-1: D"
"""
import argparse
import http.server
import socket
import socketserver
import sys


def log(name, text):
    print(f"{name}: {text}", flush=True)


def serve_http(args):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, fmt, *a):
            pass

        def do_GET(self):
            peer = f"{self.client_address[0]}:{self.client_address[1]}"
            log(args.name, f"peer={peer} GET {self.path}")
            body = f"name={args.name} peer={peer}\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer((args.bind, args.port), Handler)
    server.daemon_threads = True
    log(args.name, f"http listening on {args.bind}:{args.port}")
    server.serve_forever()


def serve_tcp(args):
    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            peer = f"{self.client_address[0]}:{self.client_address[1]}"
            log(args.name, f"peer={peer} connected")
            for line in self.rfile:
                self.wfile.write(f"{args.name}: {line.decode(errors='replace').rstrip()}\n".encode())
                self.wfile.flush()
            log(args.name, f"peer={peer} closed")

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    with Server((args.bind, args.port), Handler) as server:
        log(args.name, f"tcp echo listening on {args.bind}:{args.port}")
        server.serve_forever()


def serve_udp(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.bind, args.port))
    log(args.name, f"udp echo listening on {args.bind}:{args.port}")
    while True:
        data, peer = sock.recvfrom(65535)
        log(args.name, f"peer={peer[0]}:{peer[1]} datagram {len(data)} bytes")
        sock.sendto(f"{args.name}: ".encode() + data, peer)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["http", "tcp", "udp"])
    parser.add_argument("--name", required=True)
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        {"http": serve_http, "tcp": serve_tcp, "udp": serve_udp}[args.mode](args)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
