# shellcheck shell=bash
# Shared setup for the end-to-end tests (and tools/demo): network namespaces
# wired to a real nodeplane-dataplane through af_packet veths, the control
# plane running in the node's namespace, real servers and clients in pods.
#
#   . tests/e2e/lib.sh
#   np_setup PREFIX          # trap + user/node namespaces; PREFIX <= 5 chars
#   np_add_pod NAME IP       # a pod namespace + its pod port
#   np_service / np_slice    # write manifests into $NP_MANIFESTS
#   np_start                 # node config, dataplane, control; wait "applied"
#   np_bg POD LOG CMD...     # a background process inside a pod
#   ...checks...; np_pass "what worked"
#
# Everything is torn down on exit, pass or fail: processes (by PID), the
# dataplane (SIGTERM), namespaces, veths, shared-memory files, temp dirs.
# NP_E2E_KEEP=1 keeps the work directory (logs) for a look afterwards.
#
# Binaries are looked up in $NP_BUILD_DIR (meson sets it), then ./build, then
# PATH. Traffic only ever goes to addresses inside the namespaces made here.

set -euo pipefail

NP_E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NP_REPO=$(cd "$NP_E2E_DIR/../.." && pwd)
# shellcheck source=../../tools/topology.sh
. "$NP_REPO/tools/topology.sh"

NP_PYTHON=${NP_PYTHON:-python3}
NP_PIDS=()
NP_PORTS=()
NP_AFP_INDEX=0
NP_DP_PID=
NP_CP_PID=
NP_PREFIX=
NP_WORK=
NP_INSTANCE=
NP_MANIFESTS=
NP_DATAPLANE=
NP_CONTROL=
NP_NPCTL=
# af_packet gives as many tx queues as queue pairs; the dataplane wants one
# per worker plus one for its slow path.
NP_AFP_ARGS=${NP_AFP_ARGS-,qpairs=2}
NP_EAL_ARGS=${NP_EAL_ARGS:-"-l 0,1 --no-huge -m 1024 --no-pci --log-level=user1,info"}

np_log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
np_fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
np_ok() { printf 'ok: %s\n' "$*"; }
np_pass() { printf 'PASS: %s\n' "$*"; }

# np_bin NAME: the path of a nodeplane binary.
np_bin() {
  local name=$1 dir found=
  for dir in "${NP_BUILD_DIR:-}" "$NP_REPO/build"; do
    [[ -n $dir && -d $dir ]] || continue
    found=$(find "$dir" -type f -name "$name" -perm -u+x 2>/dev/null | head -n 1)
    if [[ -n $found ]]; then echo "$found"; return 0; fi
  done
  command -v "$name" 2>/dev/null
}

np_require_tools() {
  local tool missing=()
  for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
  ((${#missing[@]} == 0)) || np_fail "missing tools: ${missing[*]} (run tools/setup)"
}

np_find_binaries() {
  NP_DATAPLANE=$(np_bin nodeplane-dataplane) || np_fail "nodeplane-dataplane not found in ${NP_BUILD_DIR:-<unset NP_BUILD_DIR>}, $NP_REPO/build or PATH (build: meson setup build && ninja -C build)"
  NP_CONTROL=$(np_bin nodeplane-control) || np_fail "nodeplane-control not found (build it: ninja -C build)"
  NP_NPCTL=$(np_bin npctl) || NP_NPCTL=  # optional here: only for diagnostics
}

np_ns() { topo_ns "$NP_PREFIX" "$1"; }
np_in() { local pod=$1; shift; ip netns exec "$(np_ns "$pod")" "$@"; }
np_npctl() { "$NP_NPCTL" --instance "$NP_INSTANCE" "$@"; }

# np_setup PREFIX [INSTANCE]: checks, the cleanup trap, work dir, user and node.
np_setup() {
  NP_PREFIX=$1
  NP_INSTANCE=${2:-e2e-$1}
  [[ $(id -u) == 0 ]] || { echo "SKIP: needs root (network namespaces)"; exit 77; }
  np_require_tools ip ethtool curl nsenter "$NP_PYTHON"
  np_find_binaries
  trap np_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  # Leftovers of an earlier run that was killed hard.
  np_stop_stale
  topo_down "$NP_PREFIX"
  NP_WORK=$(mktemp -d "/tmp/np-$NP_INSTANCE.XXXXXX")
  NP_MANIFESTS=$NP_WORK/manifests
  mkdir -p "$NP_MANIFESTS"
  np_log "instance $NP_INSTANCE, namespaces $NP_PREFIX-*, work dir $NP_WORK"
  topo_add_user "$NP_PREFIX"
  np_add_port uplink uplink "$(topo_if "$NP_PREFIX" user)"
  topo_add_node "$NP_PREFIX"
  np_add_port host host "$(topo_if "$NP_PREFIX" node)"
}

# A dataplane of this instance left by an earlier run (its pid in the stats
# file name's owner is unknown): only processes we can prove are ours, i.e.
# whose command line names this instance, and only by PID.
np_stop_stale() {
  local pid
  for pid in $(pgrep -f -- "--instance $NP_INSTANCE\$" 2>/dev/null || true); do
    [[ $pid == "$$" ]] && continue
    np_log "stopping a stale process of instance $NP_INSTANCE: pid $pid"
    kill "$pid" 2>/dev/null || true
  done
  sleep 0.2
  rm -f /dev/shm/nodeplane."$NP_INSTANCE".* 2>/dev/null || true
  rm -f "${NP_RUN_DIR:-/run/nodeplane}/$NP_INSTANCE".{flows.jsonl,flows.jsonl.1,map.json,map.json.tmp} 2>/dev/null || true
}

# np_add_port NAME ROLE IFACE [POD_IP]: one entry of the node config.
np_add_port() {
  local name=$1 role=$2 iface=$3 ip=${4:-}
  local entry="  - name: $name
    role: $role
    devargs: \"net_af_packet${NP_AFP_INDEX},iface=${iface}${NP_AFP_ARGS}\""
  if [[ -n $ip ]]; then
    entry+="
    podIP: $ip
    podMAC: \"$(topo_mac_for_ip "$ip")\""
  fi
  NP_PORTS+=("$entry")
  NP_AFP_INDEX=$((NP_AFP_INDEX + 1))
}

# np_add_pod NAME IP: a pod namespace behind its own pod port.
np_add_pod() {
  local name=$1 ip=$2
  topo_add_pod "$NP_PREFIX" "$name" "$ip"
  np_add_port "$name" pod "$(topo_if "$NP_PREFIX" "$name")" "$ip"
}

np_write_node_config() {
  local file=$1 entry
  {
    cat <<EOF
apiVersion: nodeplane.io/v1alpha1
kind: NodeConfig
node:
  name: node-a
  addresses: [$TOPO_NODE_IP]
  podCIDR: 10.244.1.0/24
  podGateway: $TOPO_POD_GW
  clusterCIDR: $TOPO_CLUSTER_CIDR
  serviceCIDR: $TOPO_SERVICE_CIDR
dataplane:
  conntrackCapacity: 16384
  snatPortRange: "61000-65535"
  maglevSeed: 1
  healthzPort: 10256
ports:
EOF
    for entry in "${NP_PORTS[@]}"; do printf '%s\n' "$entry"; done
  } >"$file"
}

# np_start: the node config (generated unless NP_NODE_CONFIG is set), the
# dataplane, the control plane in the node namespace; waits until applied.
np_start() {
  local node_config=${NP_NODE_CONFIG:-$NP_WORK/node.yaml}
  [[ -n ${NP_NODE_CONFIG:-} ]] || np_write_node_config "$node_config"
  # shellcheck disable=SC2086
  "$NP_DATAPLANE" $NP_EAL_ARGS --file-prefix "np-$NP_INSTANCE" -- --instance "$NP_INSTANCE" \
    >"$NP_WORK/dataplane.log" 2>&1 &
  NP_DP_PID=$!
  np_log "nodeplane-dataplane pid $NP_DP_PID (log $NP_WORK/dataplane.log)"
  # nsenter, not "ip netns exec": the latter remounts /sys for the namespace,
  # and the control plane checks in /sys/class/net that the root-namespace
  # veth ends of the node config exist.
  nsenter --net="/run/netns/$(np_ns node)" "$NP_CONTROL" --node-config "$node_config" --manifests "$NP_MANIFESTS" \
    --instance "$NP_INSTANCE" >"$NP_WORK/control.log" 2>&1 &
  NP_CP_PID=$!
  np_log "nodeplane-control pid $NP_CP_PID in $(np_ns node) (log $NP_WORK/control.log)"
  np_wait_applied "${NP_START_TIMEOUT:-60}"
}

np_check_alive() {
  if [[ -n $NP_DP_PID ]] && ! kill -0 "$NP_DP_PID" 2>/dev/null; then
    tail -n 30 "$NP_WORK/dataplane.log" >&2 || true
    np_fail "nodeplane-dataplane exited"
  fi
  if [[ -n $NP_CP_PID ]] && ! kill -0 "$NP_CP_PID" 2>/dev/null; then
    tail -n 30 "$NP_WORK/control.log" >&2 || true
    np_fail "nodeplane-control exited"
  fi
}

# np_generation SECTION published|applied: the newest generation of a section
# (node, services) that the control plane published / the dataplane applied,
# from the control plane's log (0 if none yet). "services" counts the full
# services sections and the services deltas together: it grows with either.
np_generation() {
  local section=$1 what=$2 pattern n
  if [[ $section == services ]]; then
    echo $(($(np_generation services: "$what") + $(np_generation services-delta: "$what")))
    return
  fi
  section=${section%:}
  if [[ $what == published ]]; then
    pattern="$section: generation [0-9]+ published"
  else
    pattern="$section: the dataplane applied generation [0-9]+"
  fi
  n=$(grep -oE "$pattern" "$NP_WORK/control.log" 2>/dev/null | grep -oE '[0-9]+' | sort -n | tail -n 1 || true)
  echo "${n:-0}"
}

# The tables are applied when the dataplane applied the newest generation the
# control plane published of every section.
np_applied() {
  local section published applied
  for section in node services; do
    published=$(np_generation "$section" published)
    applied=$(np_generation "$section" applied)
    ((published > 0 && applied >= published)) || return 1
  done
}

np_check_refused() {
  if grep -q "REFUSED" "$NP_WORK/control.log" 2>/dev/null; then
    grep "REFUSED" "$NP_WORK/control.log" >&2
    np_fail "the dataplane refused the tables"
  fi
}

# np_wait_applied [TIMEOUT_S]
np_wait_applied() {
  local timeout=${1:-60} start=$SECONDS
  while ! np_applied; do
    np_check_alive
    np_check_refused
    if ((SECONDS - start > timeout)); then
      tail -n 20 "$NP_WORK/control.log" >&2 || true
      np_fail "the tables were not applied within ${timeout}s"
    fi
    sleep 0.2
  done
  if [[ -n $NP_NPCTL ]]; then np_npctl status >"$NP_WORK/status.txt" 2>&1 || true; fi
  np_log "tables applied (node generation $(np_generation node applied), services generation $(np_generation services applied), $((SECONDS - start))s)"
}

# np_wait_reapplied SERVICES_GENERATION [TIMEOUT_S]: after a manifest change,
# until a newer services generation is published and applied.
np_wait_reapplied() {
  local old=$1 timeout=${2:-30} start=$SECONDS
  while (($(np_generation services published) <= old)) || ! np_applied; do
    np_check_alive
    np_check_refused
    if ((SECONDS - start > timeout)); then
      tail -n 20 "$NP_WORK/control.log" >&2 || true
      np_fail "the manifest change was not applied within ${timeout}s"
    fi
    sleep 0.2
  done
  np_log "services generation $(np_generation services applied) applied ($((SECONDS - start))s)"
}


# np_bg POD LOG CMD...: run CMD in the background inside a pod; stopped at exit.
np_bg() {
  local pod=$1 log=$2
  shift 2
  ip netns exec "$(np_ns "$pod")" "$@" >"$log" 2>&1 &
  NP_PIDS+=($!)
}

# np_server POD MODE NAME PORT: tests/e2e/server.py (http|tcp|udp) on the pod;
# its log is $NP_WORK/NAME.log. Waits until it listens.
np_server() {
  local pod=$1 mode=$2 name=$3 port=$4 i
  np_bg "$pod" "$NP_WORK/$name.log" "$NP_PYTHON" -u -B "$NP_E2E_DIR/server.py" "$mode" --name "$name" --port "$port"
  for i in $(seq 50); do
    grep -q "listening" "$NP_WORK/$name.log" 2>/dev/null && return 0
    sleep 0.1
  done
  cat "$NP_WORK/$name.log" >&2
  np_fail "server $name did not start"
}

# --- manifests (written atomically: the control plane watches the directory) --

np_write_manifest() {  # FILE (content on stdin)
  local file=$NP_MANIFESTS/$1
  cat >"$file.tmp"
  mv -f "$file.tmp" "$file"
}

# np_service FILE name=N clusterIP=IP port=P [protocol=TCP] [targetPort=P]
#   [type=ClusterIP|NodePort|LoadBalancer] [nodePort=N] [lbIP=IP]
#   [etp=Cluster|Local] [healthCheckNodePort=N] [affinity=None|ClientIP]
#   [affinityTimeout=S] [namespace=default] [portName=p]
np_service() {
  local file=$1
  shift
  local -A o=([namespace]=default [protocol]=TCP [type]=ClusterIP [etp]=Cluster [affinity]=None
              [affinityTimeout]=10800 [portName]=p [nodePort]= [lbIP]= [targetPort]= [healthCheckNodePort]=)
  local kv
  for kv in "$@"; do o[${kv%%=*}]=${kv#*=}; done
  local target=${o[targetPort]:-${o[port]}}
  {
    cat <<EOF
apiVersion: v1
kind: Service
metadata:
  name: ${o[name]}
  namespace: ${o[namespace]}
  uid: $(cat /proc/sys/kernel/random/uuid)
  resourceVersion: "$RANDOM"
spec:
  type: ${o[type]}
  clusterIP: ${o[clusterIP]}
  clusterIPs:
  - ${o[clusterIP]}
  ipFamilies:
  - IPv4
  ipFamilyPolicy: SingleStack
  internalTrafficPolicy: Cluster
  ports:
  - name: ${o[portName]}
    port: ${o[port]}
    protocol: ${o[protocol]}
    targetPort: $target
EOF
    if [[ -n ${o[nodePort]} ]]; then echo "    nodePort: ${o[nodePort]}"; fi
    cat <<EOF
  selector:
    app: ${o[name]}
  sessionAffinity: ${o[affinity]}
EOF
    if [[ ${o[affinity]} == ClientIP ]]; then
      cat <<EOF
  sessionAffinityConfig:
    clientIP:
      timeoutSeconds: ${o[affinityTimeout]}
EOF
    fi
    if [[ ${o[type]} != ClusterIP ]]; then
      echo "  externalTrafficPolicy: ${o[etp]}"
      if [[ -n ${o[healthCheckNodePort]} ]]; then echo "  healthCheckNodePort: ${o[healthCheckNodePort]}"; fi
    fi
    if [[ ${o[type]} == LoadBalancer ]]; then
      echo "  allocateLoadBalancerNodePorts: true"
      cat <<EOF
status:
  loadBalancer:
    ingress:
    - ip: ${o[lbIP]}
      ipMode: VIP
EOF
    fi
  } | np_write_manifest "$file"
}

# np_slice FILE SERVICE PORT PROTOCOL [POD=IP ...] (portName p, namespace
# default, every endpoint ready on node-a).
np_slice() {
  local file=$1 service=$2 port=$3 protocol=$4
  shift 4
  local ep
  {
    cat <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $service-abcde
  namespace: default
  labels:
    kubernetes.io/service-name: $service
    endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io
  resourceVersion: "$RANDOM"
addressType: IPv4
ports:
- name: p
  port: $port
  protocol: $protocol
EOF
    if (($# == 0)); then
      echo "endpoints: []"
    else
      echo "endpoints:"
      for ep in "$@"; do
        cat <<EOF
- addresses:
  - ${ep#*=}
  conditions:
    ready: true
    serving: true
    terminating: false
  nodeName: node-a
  targetRef:
    kind: Pod
    name: ${ep%%=*}
    namespace: default
EOF
      done
    fi
  } | np_write_manifest "$file"
}

# --- diagnostics and cleanup ------------------------------------------------

np_diagnostics() {
  local f
  echo "---- diagnostics ($NP_INSTANCE) ----" >&2
  if [[ -n $NP_NPCTL && -n $NP_INSTANCE ]]; then
    for what in status "get services" "get backends" "get conntrack" "get counters"; do
      echo "## npctl $what" >&2
      # shellcheck disable=SC2086
      timeout 5 "$NP_NPCTL" --instance "$NP_INSTANCE" $what 2>&1 | head -n 60 >&2 || true
    done
  fi
  for f in "$NP_WORK"/dataplane.log "$NP_WORK"/control.log; do
    [[ -f $f ]] || continue
    echo "## tail $f" >&2
    tail -n 25 "$f" >&2
  done
}

np_cleanup() {
  local rc=$? pid i
  set +eu
  trap - EXIT INT TERM
  if ((rc != 0 && rc != 77)) && [[ -n $NP_WORK && -d $NP_WORK ]]; then np_diagnostics; fi
  for pid in "${NP_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  [[ -n $NP_CP_PID ]] && kill "$NP_CP_PID" 2>/dev/null
  if [[ -n $NP_DP_PID ]] && kill -TERM "$NP_DP_PID" 2>/dev/null; then
    for i in $(seq 100); do kill -0 "$NP_DP_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$NP_DP_PID" 2>/dev/null; then
      np_log "nodeplane-dataplane ignored SIGTERM for 10s: SIGKILL"
      kill -KILL "$NP_DP_PID" 2>/dev/null
    fi
  fi
  for pid in "${NP_PIDS[@]}" $NP_CP_PID $NP_DP_PID; do wait "$pid" 2>/dev/null; done
  [[ -n $NP_PREFIX ]] && topo_down "$NP_PREFIX"
  if [[ -n $NP_INSTANCE ]]; then
    rm -f /dev/shm/nodeplane."$NP_INSTANCE".* 2>/dev/null
    # The control record and what the control plane keeps beside it (last-good manifest copies...).
    rm -rf "${NP_RUN_DIR:-/run/nodeplane}/$NP_INSTANCE".* 2>/dev/null
    rm -rf "/var/run/dpdk/np-$NP_INSTANCE" 2>/dev/null
  fi
  if [[ -n $NP_WORK && -d $NP_WORK ]]; then
    if [[ ${NP_E2E_KEEP:-0} == 1 ]]; then np_log "kept $NP_WORK"; else rm -rf "$NP_WORK"; fi
  fi
  exit "$rc"
}

# --- control plane restarts (control_restart.sh) ---------------------------

# np_kill_control: SIGKILL nodeplane-control (no clean-up of its own).
np_kill_control() {
  [[ -n $NP_CP_PID ]] || np_fail "no nodeplane-control to kill"
  kill -KILL "$NP_CP_PID" 2>/dev/null || true
  wait "$NP_CP_PID" 2>/dev/null || true
  np_log "nodeplane-control pid $NP_CP_PID killed (SIGKILL)"
  NP_CP_PID=
}

# np_start_control: (re)starts nodeplane-control as np_start does; its log
# is appended to control.log.
np_start_control() {
  local node_config=${NP_NODE_CONFIG:-$NP_WORK/node.yaml}
  echo "---- nodeplane-control (re)started $(date +%T.%N) ----" >>"$NP_WORK/control.log"
  nsenter --net="/run/netns/$(np_ns node)" "$NP_CONTROL" --node-config "$node_config" --manifests "$NP_MANIFESTS" \
    --instance "$NP_INSTANCE" >>"$NP_WORK/control.log" 2>&1 &
  NP_CP_PID=$!
  np_log "nodeplane-control pid $NP_CP_PID in $(np_ns node) (log $NP_WORK/control.log)"
}

# np_section_json FIELD SECTION: a field of `npctl status -o json`'s section.
np_section_json() {
  np_npctl status -o json | "$NP_PYTHON" -c '
import json, sys
field, name = sys.argv[1], sys.argv[2]
for section in json.load(sys.stdin)["sections"]:
    if section["name"] == name:
        print(section[field])' "$1" "$2"
}

# --- small helpers for checks ---------------------------------------------

# np_count WORD FILE: how many lines of FILE contain WORD.
np_count() { grep -c -- "$1" "$2" 2>/dev/null || true; }

# np_http_names POD URL N: N requests (a new connection each), one line per
# answer: the server's name, or "ERR" when a request failed.
np_http_names() {
  local pod=$1 url=$2 n=$3 i out
  for i in $(seq "$n"); do
    if out=$(np_in "$pod" curl -sS --max-time 3 "$url" 2>&1); then
      sed -n 's/^name=\([^ ]*\).*/\1/p' <<<"$out"
    else
      echo "ERR $out"
    fi
  done
}

# --- NetworkPolicy helpers (tests/e2e/policy_*.sh) ----------------------------

# np_pod_manifest NAME IP NAMESPACE LABELS [PORTS]: a Pod object on node-a in
# $NP_MANIFESTS/pod-NAMESPACE-NAME.yaml. LABELS is a YAML flow map body
# ("app: web, tier: x"); PORTS one of containerPort entries
# ("{name: dns, containerPort: 53, protocol: UDP}, {...}").
np_pod_manifest() {
  local name=$1 ip=$2 namespace=$3 labels=$4 ports=${5:-}
  np_write_manifest "pod-$namespace-$name.yaml" <<MANIFEST
apiVersion: v1
kind: Pod
metadata:
  name: $name
  namespace: $namespace
  labels: {$labels}
spec:
  nodeName: node-a
  containers:
  - name: main
    image: registry.k8s.io/pause:3.9
    ports: [$ports]
status:
  phase: Running
  podIP: $ip
  podIPs:
  - ip: $ip
MANIFEST
}

# np_namespace_manifest NAME [LABELS] [ANNOTATIONS]: a Namespace object
# (kubernetes.io/metadata.name added). LABELS and ANNOTATIONS are YAML flow
# map bodies ('nodeplane.io/policy-audit: "true"'); rewriting the Namespace
# without them removes them.
np_namespace_manifest() {
  local name=$1 labels=${2:-} annotations=${3:-}
  np_write_manifest "namespace-$name.yaml" <<MANIFEST
apiVersion: v1
kind: Namespace
metadata:
  name: $name
  labels: {${labels:+$labels, }kubernetes.io/metadata.name: $name}
${annotations:+  annotations: {$annotations\}}
MANIFEST
}

# np_policy_generation: the newest policy generation the dataplane applied (0: none).
np_policy_generation() {
  local n
  n=$(grep -oE "applied policy generation [0-9]+" "$NP_WORK/dataplane.log" 2>/dev/null | grep -oE '[0-9]+$' |
      sort -n | tail -n 1 || true)
  echo "${n:-0}"
}

# np_wait_policy GENERATION [TIMEOUT_S]: until the dataplane applied that policy generation or a newer one.
np_wait_policy() {
  local want=$1 timeout=${2:-30} start=$SECONDS
  until (($(np_policy_generation) >= want)); do
    np_check_alive
    np_check_refused
    ((SECONDS - start < timeout)) || np_fail "policy generation $want was not applied within ${timeout}s"
    sleep 0.2
  done
}

# np_policy_step FILE: write one manifest (stdin) and wait until the policy section it changes is applied.
np_policy_step() {
  local before
  (($(np_policy_generation) > 0)) || np_wait_policy 1  # the first (startup) generation
  before=$(np_policy_generation)
  np_write_manifest "$1"
  np_wait_policy $((before + 1))
}

# np_policy_settle: after several manifest changes, until no newer policy
# generation is applied for a second.
np_policy_settle() {
  local last
  while :; do
    last=$(np_policy_generation)
    sleep 1
    np_check_alive
    (($(np_policy_generation) == last)) && return 0
  done
}

# np_connect POD tcp|udp HOST PORT: "ok <reply>" or "denied <why>" within 2 s (one attempt:
# a TCP connection to a line-echo server, or one datagram to a UDP echo server).
np_connect() {
  np_in "$1" "$NP_PYTHON" -B -c '
import socket, sys
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    if mode == "tcp":
        s = socket.create_connection((host, port), timeout=2)
        s.sendall(b"hi\n")
        reply = s.makefile().readline().strip()
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        s.connect((host, port))
        s.send(b"hi")
        reply = s.recv(65535).decode(errors="replace").strip()
    print("ok", reply) if reply else print("denied", "empty reply")
except OSError as error:
    print("denied", error)' "$2" "$3" "$4"
}

# np_expect ok|denied POD tcp|udp HOST PORT [WHAT]
np_expect() {
  local want=$1 pod=$2 mode=$3 host=$4 port=$5 what=${6:-} got
  got=$(np_connect "$pod" "$mode" "$host" "$port")
  [[ $got == "$want"* ]] || np_fail "$pod -> $host:$port/$mode${what:+ ($what)}: expected $want, got '$got'"
  np_ok "$pod -> $host:$port/$mode${what:+ ($what)}: $got"
}

# np_probe_expect FROM TO PORT/PROTO allow|deny: `npctl policy probe` on the
# manifests directory says the same as the real traffic did.
np_probe_expect() {
  local from=$1 to=$2 port=$3 want=$4 line
  [[ -n $NP_NPCTL ]] || np_fail "npctl not found"
  line=$("$NP_NPCTL" policy probe --manifests "$NP_MANIFESTS" --ports "$port" 2>/dev/null | grep -E "^$from $to $port " || true)
  [[ $line == "$from $to $port $want" ]] || np_fail "npctl policy probe: expected '$from $to $port $want', got '$line'"
  np_ok "probe: $line"
}
