#!/usr/bin/env python3
"""A tiny RESP (Redis protocol) key-value server, python3 stdlib only.

Stands in for redis when Debian's redis-server is not installed, and can
stand in for the voting app's postgres "db" (the demo keeps the db as a
key-value store: voter id -> vote). Commands: PING ECHO GET SET DEL INCR
RPUSH LPUSH LPOP BLPOP LLEN LRANGE HSET HGET HGETALL HINCRBY HLEN FLUSHALL
QUIT. In memory only.

  kvserver.py --bind 10.244.1.15 --port 5432
"""
import argparse
import socketserver
import threading
import time


lock = threading.Condition()
data = {}


def bulk(value):
    if value is None:
        return b"$-1\r\n"
    value = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%s\r\n" % (len(value), value)


def array(items):
    if items is None:
        return b"*-1\r\n"
    return b"*%d\r\n" % len(items) + b"".join(bulk(i) for i in items)


def integer(n):
    return b":%d\r\n" % n


def error(msg):
    return b"-ERR %s\r\n" % msg.encode()


def run(cmd, args):
    with lock:
        if cmd == "PING":
            return b"+PONG\r\n"
        if cmd == "ECHO":
            return bulk(args[0])
        if cmd == "GET":
            return bulk(data.get(args[0]))
        if cmd == "SET":
            data[args[0]] = args[1]
            return b"+OK\r\n"
        if cmd == "DEL":
            return integer(sum(1 for k in args if data.pop(k, None) is not None))
        if cmd == "INCR":
            data[args[0]] = str(int(data.get(args[0], "0")) + 1)
            return integer(int(data[args[0]]))
        if cmd in ("RPUSH", "LPUSH"):
            lst = data.setdefault(args[0], [])
            for v in args[1:]:
                lst.append(v) if cmd == "RPUSH" else lst.insert(0, v)
            lock.notify_all()
            return integer(len(lst))
        if cmd == "LPOP":
            lst = data.get(args[0]) or []
            return bulk(lst.pop(0) if lst else None)
        if cmd == "LLEN":
            return integer(len(data.get(args[0]) or []))
        if cmd == "LRANGE":
            lst = data.get(args[0]) or []
            start, stop = int(args[1]), int(args[2])
            stop = len(lst) if stop == -1 else stop + 1
            return array(lst[start:stop])
        if cmd == "BLPOP":
            keys, timeout = args[:-1], float(args[-1])
            deadline = time.monotonic() + (timeout if timeout > 0 else 1e9)
            while True:
                for k in keys:
                    if data.get(k):
                        return array([k, data[k].pop(0)])
                left = deadline - time.monotonic()
                if left <= 0:
                    return array(None)
                lock.wait(min(left, 1.0))
        if cmd == "HSET":
            h = data.setdefault(args[0], {})
            added = 0
            for i in range(1, len(args) - 1, 2):
                added += args[i] not in h
                h[args[i]] = args[i + 1]
            return integer(added)
        if cmd == "HGET":
            return bulk((data.get(args[0]) or {}).get(args[1]))
        if cmd == "HGETALL":
            h = data.get(args[0]) or {}
            return array([x for kv in h.items() for x in kv])
        if cmd == "HLEN":
            return integer(len(data.get(args[0]) or {}))
        if cmd == "HINCRBY":
            h = data.setdefault(args[0], {})
            h[args[1]] = str(int(h.get(args[1], "0")) + int(args[2]))
            return integer(int(h[args[1]]))
        if cmd == "FLUSHALL":
            data.clear()
            return b"+OK\r\n"
    return error("unknown command '%s'" % cmd)


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            line = self.rfile.readline()
            if not line:
                return
            if not line.startswith(b"*"):  # inline command (telnet / nc)
                parts = line.decode(errors="replace").split()
            else:
                parts = []
                for _ in range(int(line[1:])):
                    n = int(self.rfile.readline()[1:])
                    parts.append(self.rfile.read(n + 2)[:-2].decode(errors="replace"))
            if not parts:
                continue
            cmd = parts[0].upper()
            if cmd == "QUIT":
                self.wfile.write(b"+OK\r\n")
                return
            try:
                reply = run(cmd, parts[1:])
            except (IndexError, ValueError) as exc:
                reply = error(str(exc) or "wrong arguments")
            self.wfile.write(reply)
            self.wfile.flush()


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=6379)
    args = parser.parse_args()
    with Server((args.bind, args.port), Handler) as server:
        print("kvserver: listening on %s:%d" % (args.bind, args.port), flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
