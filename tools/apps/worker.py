#!/usr/bin/env python3
"""The voting app's worker (python3 stdlib only): pops votes queued in redis
and stores them in the db (voter id -> vote, so a voter who votes again
changes their vote), both through their ClusterIPs.

  worker.py --name worker --redis 10.96.0.13:6379 --db 10.96.0.14:5432
"""
import argparse
import json
import os
import signal
import socket
import sys
import time

import common
import resp


def main():
    parser = argparse.ArgumentParser(description="vote worker")
    parser.add_argument("--name", default=os.environ.get("POD_NAME", socket.gethostname()))
    parser.add_argument("--redis", default="10.96.0.13:6379")
    parser.add_argument("--db", default="10.96.0.14:5432")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    redis = resp.Client(*common.host_port(args.redis, 6379))
    db = resp.Client(*common.host_port(args.db, 5432))
    common.log(args.name, f"watching redis {args.redis} for votes, storing them in db {args.db}")
    backoff = 0.2
    while True:
        try:
            popped = redis.command("BLPOP", "votes", 1, timeout=5)
            backoff = 0.2
            if not popped:
                continue
            item = json.loads(popped[1])
            db.command("HSET", "votes", item["voter_id"], item["vote"])
            common.log(args.name, f"stored vote {item['vote']} from voter {item['voter_id']}")
        except (OSError, ConnectionError, resp.RespError, ValueError, KeyError) as exc:
            common.log(args.name, f"retrying in {backoff:.1f}s: {exc}")
            time.sleep(backoff)
            backoff = min(backoff * 2, 2.0)


if __name__ == "__main__":
    main()
