#!/usr/bin/env bash
# The control plane may die at any time: with a long-lived TCP connection
# open through a ClusterIP, nodeplane-control is SIGKILLed; the connection
# keeps exchanging data and new connections still work (the dataplane keeps
# the tables it applied). Restarted, the control plane reads back what the
# region holds and converges without republishing identical tables (the
# generations stay where they were, published == applied, no refusal) and
# without breaking the connection. Its Prometheus metrics, read from the
# dataplane's shared memory, are served again after the restart.
. "$(dirname "$0")/lib.sh"

np_setup npi3r
np_add_pod client 10.244.1.20
np_add_pod echo-1 10.244.1.21
np_add_pod echo-2 10.244.1.22
np_service echo.yaml name=echo clusterIP=10.96.3.50 port=7000 targetPort=9000
np_slice echo-slice.yaml echo 9000 TCP echo-1=10.244.1.21 echo-2=10.244.1.22
np_server echo-1 tcp echo-1 9000
np_server echo-2 tcp echo-2 9000
np_start
[[ -n $NP_NPCTL ]] || np_fail "npctl not found"

# A long-lived connection: for each file ask-N that appears it sends "msg N"
# on the same socket and writes the answer to answer-N (or error on failure).
chat=$NP_WORK/chat
mkdir -p "$chat"
cat >"$NP_WORK/chat.py" <<'PY'
import os, socket, sys, time
host, port, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def put(name, text):
    with open(os.path.join(d, name + ".tmp"), "w") as f: f.write(text + "\n")
    os.rename(os.path.join(d, name + ".tmp"), os.path.join(d, name))
try:
    s = socket.create_connection((host, port), timeout=5); s.settimeout(5)
    put("local", "%s:%d" % s.getsockname())
    r = s.makefile("rb"); n = 1
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if os.path.exists(os.path.join(d, "stop")): break
        if os.path.exists(os.path.join(d, "ask-%d" % n)):
            s.sendall(b"msg %d\n" % n)
            line = r.readline()
            if not line: raise ConnectionError("closed by the server")
            put("answer-%d" % n, line.decode().strip()); n += 1
        time.sleep(0.02)
except Exception as e:
    put("error", "%s: %s" % (type(e).__name__, e)); sys.exit(1)
PY
np_bg client "$NP_WORK/chat.log" "$NP_PYTHON" -B "$NP_WORK/chat.py" 10.96.3.50 7000 "$chat"

# exchange N: one round trip on the long-lived connection; prints the answer.
exchange() {
  local n=$1 i
  touch "$chat/ask-$n"
  for i in $(seq 100); do
    [[ -f $chat/answer-$n || -f $chat/error ]] && break
    sleep 0.05
  done
  [[ -f $chat/error ]] && np_fail "the long-lived connection broke (exchange $n): $(cat "$chat/error")"
  [[ -f $chat/answer-$n ]] || np_fail "no answer on the long-lived connection within 5s (exchange $n)"
  cat "$chat/answer-$n"
}

# new_connections N: N fresh connections to the ClusterIP must all answer.
new_connections() {
  local i out
  for i in $(seq "$1"); do
    out=$(np_in client "$NP_PYTHON" -B -c '
import socket
s = socket.create_connection(("10.96.3.50", 7000), timeout=3)
s.sendall(b"new\n"); print(s.makefile().readline().strip())' 2>&1) || np_fail "new connection $i failed: $out"
    [[ $out == echo-?": new" ]] || np_fail "new connection $i: unexpected answer $out"
  done
}

metrics() { np_in node curl -sS --max-time 3 http://127.0.0.1:10249/metrics; }

first=$(exchange 1)
backend=${first%%:*}
[[ $first == "$backend: msg 1" ]] || np_fail "unexpected first answer: $first"
np_ok "long-lived connection from $(cat "$chat/local") to $backend"

# The metrics the control plane serves come from the dataplane's memory.
m=$(metrics) || np_fail "no metrics on 127.0.0.1:10249 in the node namespace"
grep -q '^nodeplane_dataplane_up 1$' <<<"$m" || np_fail "metrics: dataplane not up"
grep -Eq '^nodeplane_port_rx_packets_total\{port="client"\} [1-9]' <<<"$m" || np_fail "metrics: no rx packets on the client port"
grep -Eq '^nodeplane_service_connections_total\{namespace="default",service="echo",port="p"\} [1-9]' <<<"$m" ||
  np_fail "metrics: no connection counted for default/echo:p"
grep -Eq '^nodeplane_conntrack_entries [1-9]' <<<"$m" || np_fail "metrics: no conntrack entries"
grep -Eq '^nodeplane_table_apply_latency_seconds_count\{section="services"\} [1-9]' <<<"$m" ||
  np_fail "metrics: no apply latency observed"
np_ok "metrics: $(grep -c '^nodeplane_' <<<"$m") samples"

node_before=$(np_section_json published node)
services_before=$(np_section_json published services)
cp_pid=$NP_CP_PID
np_kill_control
kill -0 "$cp_pid" 2>/dev/null && np_fail "nodeplane-control survived SIGKILL"

# Without a control plane: the dataplane keeps forwarding.
answer=$(exchange 2)
[[ $answer == "$backend: msg 2" ]] || np_fail "after SIGKILL, the long-lived connection answered: $answer"
new_connections 6
kill -0 "$NP_DP_PID" 2>/dev/null || np_fail "the dataplane died with the control plane"
np_ok "control plane killed: the long-lived connection and 6 new connections still work"
# npctl knows nothing applies a change now.
out=$(np_npctl apply -f "$NP_MANIFESTS/echo.yaml" 2>&1) && np_fail "npctl apply without a control plane succeeded: $out"
grep -q 'is not running' <<<"$out" || np_fail "npctl apply without a control plane: $out"

# Restart: converges on what the dataplane holds.
restarts=$(grep -c 'watching ' "$NP_WORK/control.log")
np_start_control
for _ in $(seq 100); do
  (($(grep -c 'reload: ' "$NP_WORK/control.log") > restarts)) && break
  np_check_alive
  sleep 0.1
done
for _ in $(seq 100); do
  ok=1
  for section in node services; do
    [[ $(np_section_json published $section) == "$(np_section_json applied $section)" ]] || ok=0
    [[ $(np_section_json refused $section) == 0 ]] || np_fail "$section refused: $(np_section_json refusalReason $section)"
  done
  ((ok)) && break
  sleep 0.1
done
((ok)) || np_fail "after the restart published != applied"
tail -n 4 "$NP_WORK/control.log"
grep -q 'REFUSED' "$NP_WORK/control.log" && np_fail "the dataplane refused something"
node_after=$(np_section_json published node)
services_after=$(np_section_json published services)
[[ $node_after == "$node_before" && $services_after == "$services_before" ]] ||
  np_fail "the restarted control plane republished (node $node_before -> $node_after, services $services_before -> $services_after)"
np_ok "restarted: converged on node generation $node_after, services generation $services_after (nothing republished)"

answer=$(exchange 3)
[[ $answer == "$backend: msg 3" ]] || np_fail "after the restart, the long-lived connection answered: $answer"
new_connections 6
m=$(metrics) || np_fail "no metrics after the restart"
grep -q '^nodeplane_table_applied_generation{section="services"} '"$services_after"'$' <<<"$m" ||
  np_fail "metrics after the restart: wrong applied generation"
# A change after the restart is applied as usual.
mkdir -p "$NP_WORK/src"
NP_MANIFESTS=$NP_WORK/src np_service more.yaml name=more clusterIP=10.96.3.51 port=7000 targetPort=9000
NP_MANIFESTS=$NP_WORK/src np_slice more-slice.yaml more 9000 TCP echo-1=10.244.1.21
out=$(np_npctl apply -f "$NP_WORK/src" 2>&1) || np_fail "npctl apply after the restart: $out"
grep -q '^applied in ' <<<"$out" || np_fail "npctl apply after the restart: $out"
answer=$(np_in client "$NP_PYTHON" -B -c '
import socket
s = socket.create_connection(("10.96.3.51", 7000), timeout=3)
s.sendall(b"more\n"); print(s.makefile().readline().strip())' 2>&1) || np_fail "the Service applied after the restart: $answer"
[[ $answer == "echo-1: more" ]] || np_fail "the Service applied after the restart answered: $answer"
answer=$(exchange 4)
[[ $answer == "$backend: msg 4" ]] || np_fail "after an update, the long-lived connection answered: $answer"
touch "$chat/stop"
np_pass "control plane SIGKILL + restart: long-lived connection kept (4 exchanges), new connections OK, converged without republishing"
