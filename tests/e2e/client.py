#!/usr/bin/env python3
"""Clients for the end-to-end tests (python3 stdlib only).

  client.py udp HOST PORT MESSAGE [--timeout S]
      one datagram on a connected UDP socket (so only a reply from HOST:PORT,
      i.e. correctly un-NATed, is accepted); prints the reply
  client.py hold HOST PORT DIR
      a long-lived TCP connection to a line-echo server: sends "hello",
      writes the reply to DIR/first, waits until DIR/go exists, then sends
      "again" on the same connection and writes the reply to DIR/second.
      Any failure is written to DIR/error and exits 1.
"""
import argparse
import os
import socket
import sys
import time


def udp(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(args.timeout)
    sock.connect((args.host, args.port))
    sock.send(args.message.encode())
    try:
        print(sock.recv(65535).decode(errors="replace"))
    except socket.timeout:
        print(f"no reply from {args.host}:{args.port} within {args.timeout}s", file=sys.stderr)
        return 1
    return 0


def exchange(sock, reader, text):
    sock.sendall(text.encode() + b"\n")
    line = reader.readline()
    if not line:
        raise ConnectionError("connection closed by the server")
    return line.decode(errors="replace").rstrip("\n")


def hold(args):
    def write(name, text):
        with open(os.path.join(args.dir, name + ".tmp"), "w") as f:
            f.write(text + "\n")
        os.rename(os.path.join(args.dir, name + ".tmp"), os.path.join(args.dir, name))

    try:
        sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
        sock.settimeout(args.timeout)
        reader = sock.makefile("rb")
        local = "%s:%d" % sock.getsockname()
        write("first", exchange(sock, reader, "hello") + f" local={local}")
        deadline = time.monotonic() + args.wait
        while not os.path.exists(os.path.join(args.dir, "go")):
            if time.monotonic() > deadline:
                raise TimeoutError("nobody said go")
            time.sleep(0.05)
        write("second", exchange(sock, reader, "again"))
        sock.close()
    except Exception as exc:  # noqa: BLE001 - report whatever broke
        write("error", f"{type(exc).__name__}: {exc}")
        return 1
    return 0


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("udp")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("message")
    p.add_argument("--timeout", type=float, default=3.0)
    p = sub.add_parser("hold")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("dir")
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--wait", type=float, default=120.0)
    args = parser.parse_args()
    return udp(args) if args.mode == "udp" else hold(args)


if __name__ == "__main__":
    sys.exit(main())
