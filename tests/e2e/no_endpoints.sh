#!/usr/bin/env bash
# A Service without endpoints is rejected at once, as kube-proxy does: the
# dataplane answers the SYN with ICMP port unreachable, so the client gets
# "Connection refused" in well under a second instead of a timeout.
. "$(dirname "$0")/lib.sh"

np_setup npe6
np_add_pod client 10.244.1.20
np_service empty.yaml name=empty clusterIP=10.96.1.60 port=80 targetPort=8080
np_slice empty-slice.yaml empty 8080 TCP
np_start

start=$(date +%s%N)
if out=$(np_in client curl -sS --max-time 5 http://10.96.1.60/ 2>&1); then
  np_fail "a Service without endpoints answered: $out"
fi
ms=$((($(date +%s%N) - start) / 1000000))
echo "curl: $out (${ms} ms)"
[[ $out == *"Connection refused"* || $out == *"Couldn't connect"* ]] || np_fail "expected Connection refused, got: $out"
((ms < 1000)) || np_fail "the client waited ${ms} ms: no fast reject"
# curl prints "Couldn't connect to server" for ECONNREFUSED and EHOSTUNREACH
# alike: ask the kernel which one it was.
err=$(np_in client "$NP_PYTHON" -c '
import socket, errno
s = socket.socket(); s.settimeout(5)
try:
    s.connect(("10.96.1.60", 80)); print("connected")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))' 2>&1)
[[ $err == ECONNREFUSED ]] || np_fail "connect() failed with $err, expected ECONNREFUSED (ICMP port unreachable)"
np_pass "no endpoints: refused in ${ms} ms (ECONNREFUSED)"
