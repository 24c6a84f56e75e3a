#!/usr/bin/env bash
# NetworkPolicy enforced by the dataplane with real connections: a policy
# isolating the web pods admits only app=frontend on TCP 8080, directly and
# through the Service (judged on the backend after DNAT); others, external
# users through a NodePort, and bare ACKs of unknown flows are denied; an
# established connection the policy stops allowing is cut on its next
# packet; removing the policy restores access.
. "$(dirname "$0")/lib.sh"

np_setup npe0
np_add_pod frontend 10.244.1.20
np_add_pod other 10.244.1.23
np_add_pod web-1 10.244.1.21
np_service web.yaml name=web clusterIP=10.96.1.10 port=80 targetPort=8080 type=NodePort nodePort=30080
np_slice web-slice.yaml web 8080 TCP web-1=10.244.1.21

# pod_manifest NAME IP APP: the Pod object policies select by label.
pod_manifest() {
  np_write_manifest "pod-$1.yaml" <<MANIFEST
apiVersion: v1
kind: Pod
metadata:
  name: $1
  namespace: default
  labels:
    app: $3
spec:
  nodeName: node-a
  containers:
  - name: main
    image: registry.k8s.io/pause:3.9
    ports:
    - {name: http, containerPort: 8080, protocol: TCP}
status:
  phase: Running
  podIP: $2
  podIPs:
  - ip: $2
MANIFEST
}
pod_manifest frontend 10.244.1.20 frontend
pod_manifest other 10.244.1.23 other
pod_manifest web-1 10.244.1.21 web
np_server web-1 tcp web-1 8080
np_start

# connect POD HOST PORT: "ok <answer>" or "denied <why>" within 2 s.
connect() {
  np_in "$1" "$NP_PYTHON" -B -c '
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
    s.sendall(b"hi\n"); print("ok", s.makefile().readline().strip())
except OSError as error:
    print("denied", error)' "$2" "$3"
}
expect() {  # expect ok|denied POD HOST PORT
  local want=$1 got
  got=$(connect "$2" "$3" "$4")
  [[ $got == "$want"* ]] || np_fail "$2 -> $3:$4: expected $want, got '$got'"
  np_ok "$2 -> $3:$4: $got"
}
# wait_policy GENERATION: until the dataplane applied that policy generation.
wait_policy() {
  local start=$SECONDS
  until grep -q "applied policy generation $1\$" "$NP_WORK/dataplane.log"; do
    np_check_alive
    ((SECONDS - start < 30)) || np_fail "policy generation $1 was not applied"
    sleep 0.2
  done
}
policy_generation() {
  grep -oE "applied policy generation [0-9]+" "$NP_WORK/dataplane.log" | grep -oE '[0-9]+$' | sort -n | tail -n 1
}

# No policy yet: everyone gets through.
expect ok other 10.96.1.10 80

generation=$(policy_generation)
np_write_manifest policy.yaml <<'MANIFEST'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web-from-frontend
  namespace: default
spec:
  podSelector:
    matchLabels: {app: web}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector:
        matchLabels: {app: frontend}
    ports:
    - {protocol: TCP, port: http}
MANIFEST
wait_policy $((generation + 1))

expect ok frontend 10.96.1.10 80     # through the Service: judged on web-1:8080
expect ok frontend 10.244.1.21 8080  # directly, the named port "http"
expect denied other 10.96.1.10 80
expect denied other 10.244.1.21 8080
code=$(np_in user curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$TOPO_NODE_IP:30080/" || true)
[[ $code == 000 ]] || np_fail "an external user reached the isolated pod through the NodePort ($code)"
np_ok "external user -> NodePort -> web-1 denied"
# A bare ACK of a connection nobody knows does not get around the deny.
before=$(np_npctl get counters -o json | "$NP_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["drops"]["policy_denied"])')
np_in other "$NP_PYTHON" -B - <<'PY' || np_fail "could not send a bare ACK"
import socket, struct
def checksum(data):
    data += b"\0" * (len(data) % 2)
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff
src, dst = socket.inet_aton("10.244.1.23"), socket.inet_aton("10.244.1.21")
tcp = struct.pack("!HHIIBBHHH", 40000, 8080, 1, 1, 5 << 4, 0x10, 65535, 0, 0)
tcp = tcp[:16] + struct.pack("!H", checksum(src + dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)) + tcp[18:]
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
sock.sendto(tcp, ("10.244.1.21", 0))
PY
sleep 0.3
after=$(np_npctl get counters -o json | "$NP_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["drops"]["policy_denied"])')
((after > before)) || np_fail "the bare ACK was not dropped by policy (policy_denied $before -> $after)"
np_ok "bare ACK to the isolated pod dropped (policy_denied $before -> $after)"
# Per-rule counts and the drop log, from the CLI.
np_npctl get policies | tee "$NP_WORK/policies.txt"
awk '$1 == "default/web-from-frontend" && $2 == "ingress" && $5 >= 2 {found = 1} END {exit !found}' "$NP_WORK/policies.txt" ||
  np_fail "npctl get policies does not count frontend's 2 allowed connections on the ingress rule"
np_npctl get policy-drops | tee "$NP_WORK/drops.txt"
grep -q '^10.244.1.23 .*10.244.1.21 .*TCP :8080 *denied-ingress' "$NP_WORK/drops.txt" ||
  np_fail "npctl get policy-drops does not show other -> web-1:8080 denied on ingress"

# An established connection the policy stops allowing is cut.
dir=$NP_WORK/held
mkdir -p "$dir"
np_bg frontend "$dir/log" "$NP_PYTHON" -B "$NP_E2E_DIR/client.py" hold 10.96.1.10 80 "$dir"
for _ in $(seq 50); do [[ -f $dir/first || -f $dir/error ]] && break; sleep 0.1; done
[[ -f $dir/first ]] || np_fail "frontend's long-lived connection did not open: $(cat "$dir/error" 2>/dev/null)"
generation=$(policy_generation)
sed 's/app: frontend}/app: nobody}/' "$NP_MANIFESTS/policy.yaml" | np_write_manifest policy.yaml
wait_policy $((generation + 1))
touch "$dir/go"
for _ in $(seq 60); do [[ -f $dir/second || -f $dir/error ]] && break; sleep 0.1; done
[[ -f $dir/second ]] && np_fail "the established connection survived a policy that denies it: $(cat "$dir/second")"
np_ok "the established connection was cut by the new policy"
expect denied frontend 10.96.1.10 80

# Without the policy, everything is open again.
generation=$(policy_generation)
rm -f "$NP_MANIFESTS/policy.yaml"
wait_policy $((generation + 1))
expect ok other 10.96.1.10 80
expect ok frontend 10.244.1.21 8080
np_pass "NetworkPolicy enforced on new and established connections, through Services and directly"
