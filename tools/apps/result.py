#!/usr/bin/env python3
"""The voting app's "result" front end (python3 stdlib only).

  GET /       the tally read from the db (through its ClusterIP), and the
              pod that served the page
  GET /json   {"a": N, "b": M, "pod": ...}
  GET /healthz

The db is a key-value store standing in for postgres (redis-server, or
tools/apps/kvserver.py): hash "votes", voter id -> "a" | "b".

  result.py --name result --port 80 --db 10.96.0.14:5432
"""
import json

import common
import resp


class Handler(common.Handler):
    db = None

    def tally(self):
        client = resp.Client(*self.db)
        try:
            flat = client.command("HGETALL", "votes") or []
        finally:
            client.close()
        counts = {"a": 0, "b": 0}
        for vote in flat[1::2]:
            counts[vote] = counts.get(vote, 0) + 1
        return counts

    def do_GET(self):
        if self.path.startswith("/healthz"):
            return self.send_body(200, "ok\n", "text/plain")
        try:
            counts = self.tally()
        except (OSError, resp.RespError) as exc:
            common.log(self.pod_name, f"db {self.db[0]}:{self.db[1]} failed: {exc}")
            return self.send_body(503, f"db unreachable: {exc}\n", "text/plain")
        if self.path.startswith("/json"):
            return self.send_body(200, json.dumps({**counts, "pod": self.pod_name}) + "\n", "application/json")
        total = sum(counts.values())
        self.send_body(200, f"""<!DOCTYPE html>
<html><head><title>Cats vs Dogs -- Result</title></head>
<body>
<h1>Cats vs Dogs -- Result</h1>
<p id="tally">Cats: {counts['a']}  Dogs: {counts['b']}  ({total} vote{'s' if total != 1 else ''})</p>
<p id="served-by">Processed by pod {self.pod_name}</p>
</body></html>
""")


def main():
    parser = common.base_parser("result front end", 80)
    parser.add_argument("--db", default="10.96.0.14:5432", help="db HOST:PORT (the ClusterIP)")
    args = parser.parse_args()
    Handler.db = common.host_port(args.db, 5432)
    common.serve(args, Handler)


if __name__ == "__main__":
    main()
