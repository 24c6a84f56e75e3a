#!/usr/bin/env python3
"""The voting app's "vote" front end (python3 stdlib only).

  GET  /      a page naming the pod that served it
  POST /vote  body "vote=a" or "vote=b" (or just "a"/"b"): queued in redis
              (RPUSH votes {"voter_id": ..., "vote": ...}) through the redis
              ClusterIP, with raw RESP over a socket
  GET  /healthz

  vote.py --name vote-1 --port 80 --redis 10.96.0.13:6379
"""
import json
import urllib.parse
import uuid

import common
import resp

OPTIONS = {"a": "Cats", "b": "Dogs"}


def page(pod, message=""):
    return f"""<!DOCTYPE html>
<html><head><title>Cats vs Dogs!</title></head>
<body>
<h1>Cats vs Dogs!</h1>
<form method="POST" action="/vote">
  <button name="vote" value="a">Cats</button>
  <button name="vote" value="b">Dogs</button>
</form>
<p>{message}</p>
<p id="served-by">Processed by pod {pod}</p>
</body></html>
"""


class Handler(common.Handler):
    redis = None

    def do_GET(self):
        if self.path.startswith("/healthz"):
            return self.send_body(200, "ok\n", "text/plain")
        self.send_body(200, page(self.pod_name))

    def do_POST(self):
        body = self.read_body().strip()
        fields = urllib.parse.parse_qs(body)
        choice = (fields.get("vote") or [body])[0].strip()
        if choice not in OPTIONS:
            return self.send_body(400, "vote must be a or b\n", "text/plain")
        cookie = self.headers.get("Cookie") or ""
        voter = (fields.get("voter_id") or [None])[0]
        for part in cookie.split(";"):
            key, _, value = part.strip().partition("=")
            if key == "voter_id" and not voter:
                voter = value
        voter = voter or uuid.uuid4().hex[:16]
        item = json.dumps({"voter_id": voter, "vote": choice})
        client = resp.Client(*self.redis)
        try:
            queued = client.command("RPUSH", "votes", item)
        except (OSError, resp.RespError) as exc:
            common.log(self.pod_name, f"redis {self.redis[0]}:{self.redis[1]} failed: {exc}")
            return self.send_body(503, f"redis unreachable: {exc}\n", "text/plain")
        finally:
            client.close()
        common.log(self.pod_name, f"queued vote {choice} from voter {voter} (queue length {queued})")
        message = f"Your vote for {OPTIONS[choice]} ({choice}) was queued in redis by pod {self.pod_name}."
        self.send_body(200, page(self.pod_name, message), headers=[("Set-Cookie", f"voter_id={voter}")])


def main():
    parser = common.base_parser("vote front end", 80)
    parser.add_argument("--redis", default="10.96.0.13:6379", help="redis HOST:PORT (the ClusterIP)")
    args = parser.parse_args()
    Handler.redis = common.host_port(args.redis, 6379)
    common.serve(args, Handler)


if __name__ == "__main__":
    main()
