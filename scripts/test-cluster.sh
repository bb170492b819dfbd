#!/usr/bin/env bash
# The MPI executor across machines, on a simulated cluster of three nodes built from Linux
# namespaces on this machine:
#
#   - a bridge in a network namespace of its own, and one network namespace per node, joined
#     to the bridge by a veth pair, with an address on a private subnet (10.77.0.0/24) that
#     exists only inside these namespaces: nothing is routed anywhere else;
#   - each node's processes in their own UTS namespace (host names node1, node2, node3) and
#     mount namespace (a private /tmp and /dev/shm, as on separate machines);
#   - Open MPI launching its daemons through a `plm_rsh_agent` that enters the node's
#     namespaces instead of ssh, with a clean environment as ssh would give; TCP only between
#     nodes (shared memory within one). The build directory plays the shared file system.
#
# It runs the MPI executor's tests and `wordcount --executor mpi` across the nodes (output
# identical to the local run, ranks on the intended nodes), times wordcount on 1, 2 and 3
# nodes, then breaks things: a node killed, a rank stopped, a node partitioned, and a
# partition that heals. For each it prints what happened, the time to error, and what was
# left behind (nothing). A trap tears everything down, even on failure.
#
# Needs root and network namespaces; prints why and exits 0 when they are not there.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

skip() {
    echo "test-cluster: skipped: $*"
    exit 0
}
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, veth, bridges)"
for tool in ip nsenter unshare; do
    command -v "$tool" >/dev/null 2>&1 || skip "no '$tool' command (iproute2, util-linux)"
done
probe="mpcprobe$$"
ip netns add "$probe" 2>/dev/null || skip "cannot create network namespaces here"
ip netns del "$probe"

scripts/install-mpi.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# The project's Open MPI parameters: OOB keepalive, so that a partition ends the job.
. scripts/mpi-params.sh

started=$(date +%s.%N)
step() { printf '\n== %s\n' "$*"; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
fail() {
    echo "test-cluster: FAILED: $*" >&2
    exit 1
}

step "build"
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}
(cd crates/multiproc-mpi && cargo build --examples --quiet)
mpi_tests=$(cd crates/multiproc-mpi && cargo test --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\/mpi-[0-9a-f]*\)".*/\1/p' | tail -n1)
[ -x "$mpi_tests" ] || fail "cannot find the MPI test binary"
cargo build --quiet -p wordcount --features mpi
wordcount=$repo/target/debug/wordcount
examples=$repo/crates/multiproc-mpi/target/debug/examples

# ---------------------------------------------------------------------------------------
# The cluster.
prefix="mpc$$"
subnet=10.77.0
state=$(mktemp -d "$repo/target/cluster.XXXXXX") # on every node: the shared file system
declare -A holder                                 # node -> the process holding its namespaces

teardown() {
    local rc=$? node pid
    trap - EXIT INT TERM
    for node in node1 node2 node3; do
        if ip netns pids "$prefix-$node" >/dev/null 2>&1; then
            for pid in $(ip netns pids "$prefix-$node"); do kill -KILL "$pid" 2>/dev/null || true; done
        fi
    done
    for pid in "${holder[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    done
    for ns in "$prefix-node1" "$prefix-node2" "$prefix-node3" "$prefix-bridge"; do
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$state"
    local left
    left=$(ip netns list | grep -c "^$prefix-" || true)
    if [ "$left" -ne 0 ]; then
        echo "test-cluster: teardown left $left namespaces" >&2
        rc=1
    fi
    echo "test-cluster: torn down (namespaces, veths, bridge, processes, $state)"
    exit "$rc"
}
trap teardown EXIT INT TERM

step "a cluster of 3 nodes on $subnet.0/24"
ip netns add "$prefix-bridge"
ip -n "$prefix-bridge" link add br0 type bridge forward_delay 0
ip -n "$prefix-bridge" link set lo up
ip -n "$prefix-bridge" link set br0 up
for i in 1 2 3; do
    node=node$i
    ip netns add "$prefix-$node"
    ip link add eth0 netns "$prefix-$node" type veth peer name "$node" netns "$prefix-bridge"
    ip -n "$prefix-bridge" link set "$node" master br0 up
    ip -n "$prefix-$node" addr add "$subnet.1$i/24" dev eth0
    ip -n "$prefix-$node" link set lo up
    ip -n "$prefix-$node" link set eth0 up
    # The node's own host name, /tmp and /dev/shm; the process stays to hold them.
    nsenter --net="/run/netns/$prefix-$node" unshare --uts --mount --propagation private \
        sh -c "hostname $node && mount -t tmpfs tmpfs /tmp && mount -t tmpfs tmpfs /dev/shm && exec sleep infinity" &
    holder[$node]=$!
    disown "${holder[$node]}" # killed by the trap, without a word from bash
done
for node in node1 node2 node3; do
    for _ in $(seq 50); do
        [ "$(nsenter -t "${holder[$node]}" -u hostname 2>/dev/null)" = "$node" ] && break
        sleep 0.1
    done
    echo "${holder[$node]}" > "$state/$node.pid"
done

# Runs a command on a node, as ssh would: in its namespaces, with a clean environment.
cat > "$state/agent" <<EOF
#!/bin/sh
# plm_rsh_agent: $state/agent NODE COMMAND... (the command is one shell line, as for ssh)
node=\$1
shift
exec nsenter -t "\$(cat "$state/\$node.pid")" -n -u -m -- \\
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \\
    sh -c "cd / && \$*"
EOF
chmod +x "$state/agent"

# Open MPI, as every run on the cluster sees it.
export OMPI_MCA_plm_rsh_agent="$state/agent"
export OMPI_MCA_plm_rsh_no_tree_spawn=1 # every daemon is started from node1
export OMPI_MCA_btl=tcp,vader,self      # TCP between nodes, shared memory within one
export OMPI_MCA_btl_tcp_if_include=$subnet.0/24 OMPI_MCA_oob_tcp_if_include=$subnet.0/24
export OMPI_MCA_rmaps_base_oversubscribe=1

printf 'node1 slots=1\nnode2 slots=1\nnode3 slots=1\n' > "$state/hosts3"
printf 'node1 slots=1\nnode2 slots=2\n' > "$state/hosts2"

# on NODE COMMAND...: runs a command on a node (its namespaces, this environment).
on() {
    local node=$1
    shift
    nsenter -t "${holder[$node]}" -n -u -m -- "$@"
}

for i in 1 2 3; do
    echo "node$i: $(on "node$i" hostname) $(on "node$i" ip -4 -br addr show eth0 | awk '{print $3}')"
done
# Nothing listens on node3's port 9: "refused" means that node3 answered.
reached=no
for _ in $(seq 20); do
    if { on node1 timeout 2 bash -c "exec 3<>/dev/tcp/$subnet.13/9" 2>&1 || true; } | grep -q refused; then
        reached=yes
        break
    fi
    sleep 0.5
done
[ "$reached" = yes ] || fail "node1 cannot reach node3"
echo "node1 reaches node3; nothing outside: $(on node1 ip route | wc -l) route(s), all on $subnet.0/24"

# Processes of each node, other than the one holding its namespaces.
node_procs() {
    local node pid
    for node in node1 node2 node3; do
        for pid in $(ip netns pids "$prefix-$node"); do
            [ "$pid" = "${holder[$node]}" ] && continue
            echo "$node:$pid:$(cat "/proc/$pid/comm" 2>/dev/null || echo '?')"
        done
    done
}

# Waits until no node runs anything (bounded), then says so; fails otherwise.
leftovers() {
    local since
    since=$(date +%s.%N)
    for _ in $(seq 300); do
        [ -z "$(node_procs)" ] && break
        sleep 0.1
    done
    local left
    left=$(node_procs | tr '\n' ' ')
    [ -z "$left" ] || fail "left behind after 30 s: $left"
    echo "   leftovers: none (every node empty $(elapsed "$since") s after the job ended)"
}

# ---------------------------------------------------------------------------------------
step "the MPI executor's tests, across the nodes (default hostfile: node1, node2, node3)"
t=$(date +%s.%N)
on node1 env OMPI_MCA_orte_default_hostfile="$state/hosts3" MULTIPROC_MPI_SHARED_DIR="$state" \
    "$mpi_tests" --test-threads 1 2>&1 | grep -E '^test |test result' | sed 's/^/   /'
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "the MPI executor's tests failed across nodes"
echo "   ($(elapsed "$t") s)"
leftovers

step "placement: mpi_map under mpirun on 3 nodes, and spawned from a singleton"
out=$(on node1 timeout -k 5 60 mpirun --hostfile "$state/hosts3" -np 3 "$examples/mpi_map" 2>&1)
echo "$out" | sed 's/^/   /'
echo "$out" | grep -qx 'workers: 2 (mpirun, hosts: node2, node3)' || fail "ranks not on node2 and node3"
echo "$out" | grep -qx 'equal: true' || fail "mpi_map results differ"
printf 'node2 slots=1\nnode3 slots=1\n' > "$state/hosts-workers"
out=$(on node1 env OMPI_MCA_orte_default_hostfile="$state/hosts-workers" \
    timeout -k 5 60 "$examples/mpi_map" --spawn 2 2>&1)
echo "$out" | sed 's/^/   /'
echo "$out" | grep -qx 'workers: 2 (spawned, hosts: node2, node3)' || fail "spawned ranks not on node2 and node3"
leftovers

step "wordcount --executor mpi across nodes: output identical to the local run"
corpus=$state/corpus
mkdir -p "$corpus"
cp -r ../shared/corpora/pymotw-multiprocessing "$corpus/" 2>/dev/null || true
awk 'BEGIN {
    srand(7); split("process pool queue lock event manager barrier value array pipe worker task result chunk node rank driver cluster partition heartbeat", w, " ")
    for (f = 0; f < 8; f++) {
        file = sprintf("'"$corpus"'/part-%d.txt", f)
        for (l = 0; l < 60000; l++) {
            line = ""
            for (k = 0; k < 12; k++) line = line w[int(rand() * 20) + 1] (k < 11 ? " " : "\n")
            printf "%s", line > file
        }
        close(file)
    }
}'
echo "   corpus: $(du -sh "$corpus" | cut -f1) in $(find "$corpus" -type f | wc -l) files"
timed() { # timed VAR COMMAND...: runs it, output in $state/VAR.out, seconds in ${VAR}_s
    local var=$1 t
    shift
    t=$(date +%s.%N)
    "$@" > "$state/$var.out" 2> "$state/$var.err" || {
        cat "$state/$var.err" >&2
        fail "$var failed"
    }
    printf -v "${var}_s" '%s' "$(elapsed "$t")"
}
for format in text tsv; do
    timed local on node1 timeout 120 "$wordcount" --workers 2 --format "$format" "$corpus"
    timed nodes2 on node1 timeout -k 5 120 mpirun --display-map --hostfile "$state/hosts2" -np 3 \
        "$wordcount" --executor mpi --format "$format" "$corpus"
    timed nodes3 on node1 timeout -k 5 120 mpirun --display-map --hostfile "$state/hosts3" -np 3 \
        "$wordcount" --executor mpi --format "$format" "$corpus"
    for n in 2 3; do
        # Open MPI's map of where it put each rank comes first, then wordcount's output.
        map=$(sed -n '/JOB MAP/,/^ =====*$/p' "$state/nodes$n.out")
        sed '1,/^ =====*$/d' "$state/nodes$n.out" | sed '/./,$!d' > "$state/nodes$n.report"
        cmp -s "$state/local.out" "$state/nodes$n.report" ||
            { diff "$state/local.out" "$state/nodes$n.report" | head >&2; fail "--format $format on $n nodes differs"; }
        placed=$(echo "$map" | awk '/Data for node/ { node = $4 } /Process rank/ { printf "%s%d@%s", sep, $9, node; sep = " " }')
        echo "   --format $format on $n nodes: identical to the local run ($(wc -l < "$state/local.out") lines); ranks: $placed"
        expected="0@node1 1@node2 2@node$n"
        [ "$placed" = "$expected" ] || fail "ranks on $n nodes: $placed, expected $expected"
    done
done
echo "   timings (debug build, --format tsv; the three nodes share this machine's $(nproc) cores):"
echo "     local, 2 worker processes:            ${local_s} s"
echo "     2 nodes (driver node1, 2 ranks node2): ${nodes2_s} s"
echo "     3 nodes (driver node1, node2, node3):  ${nodes3_s} s"
leftovers

# ---------------------------------------------------------------------------------------
# The faults: mpi_map under mpirun on node1, node2 and node3, 1000 tasks of 20 ms (about
# 10 s of work) with a silence timeout of TIMEOUT seconds. Each fault hits node3 1 s after
# the executor has started.
fault_run() { # fault_run NAME TIMEOUT ACTION [HEAL-ACTION]: runs the job, breaks it, reports.
    local name=$1 timeout=$2 action=$3 heal=${4:-} t0 tf rc
    step "fault: $name"
    t0=$(date +%s.%N)
    on node1 timeout -k 5 120 mpirun --hostfile "$state/hosts3" -np 3 "$examples/mpi_map" \
        --task-ms 20 --timeout "$timeout" > "$state/fault.out" 2> "$state/fault.err" &
    local job=$!
    for _ in $(seq 600); do
        grep -q '^workers:' "$state/fault.out" && break
        sleep 0.1
    done
    grep -q '^workers:' "$state/fault.out" || fail "the job did not start: $(cat "$state/fault.err")"
    sleep 1
    tf=$(date +%s.%N)
    eval "$action"
    echo "   $(elapsed "$t0") s into the run: $action"
    if [ -n "$heal" ]; then
        sleep 2
        eval "$heal"
        echo "   2 s later: $heal"
    fi
    rc=0
    wait "$job" || rc=$?
    fault_rc=$rc
    fault_after=$(elapsed "$tf")
    fault_err=$(grep -vE '^\s*$|^-+$' "$state/fault.err" | grep -v 'setpgid' || true)
    echo "   mpirun exit status $rc, $fault_after s after the fault"
    echo "$fault_err" | head -12 | sed 's/^/   | /'
}

node3_rank() { # the worker rank's pid on node3
    local pid
    for pid in $(ip netns pids "$prefix-node3"); do
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = mpi_map ] &&
            [ "$(cat "/proc/$(awk '{print $4}' "/proc/$pid/stat")/comm" 2>/dev/null)" = orted ] &&
            { echo "$pid"; return; }
    done
}

fault_run "a node killed (every process of node3, SIGKILL)" 5 \
    'for p in $(ip netns pids $prefix-node3); do [ $p = ${holder[node3]} ] || kill -KILL $p; done'
[ "$fault_rc" -ne 0 ] || fail "the job succeeded without node3"
echo "$fault_err" | grep -q node3 || fail "nothing names node3"
leftovers

fault_run "a rank stopped (the worker rank on node3, SIGSTOP)" 5 'kill -STOP $(node3_rank)'
[ "$fault_rc" -ne 0 ] || fail "the job succeeded with a stopped rank"
echo "$fault_err" | grep -q 'on node3) sent nothing for 5\.' || fail "the driver did not name the silent rank on node3"
leftovers

# The silence timeout (20 s) is above the OOB keepalive bound (5 + 2 x 3 = 11 s), as it
# should be: Open MPI notices the cut first, while its control connections are idle, and ends
# the job on both sides. (A driver that gives up first makes mpirun write to the lost node,
# and TCP retransmits for about 15 minutes before keepalive can apply.)
fault_run "a node partitioned (node3's link cut, for good)" 20 "ip -n $prefix-bridge link set node3 down"
[ "$fault_rc" -ne 0 ] || fail "the job succeeded across a partition"
echo "$fault_err" | grep -q 'node3' || fail "nothing names node3"
awk -v s="$fault_after" 'BEGIN { exit !(s < 40) }' || fail "mpirun took $fault_after s to return"
# Cut off, node3 cleans up by itself: its daemon gives up on mpirun (keepalive) and kills its
# rank, which would otherwise give up on its silent driver.
leftovers
ip -n "$prefix-bridge" link set node3 up

fault_run "a partition that heals (node3's link cut for 2 s)" 10 \
    "ip -n $prefix-bridge link set node3 down" "ip -n $prefix-bridge link set node3 up"
[ "$fault_rc" -eq 0 ] || fail "the job failed across a partition that healed"
grep -qx 'equal: true' "$state/fault.out" || fail "results differ after the partition healed"
grep -x 'workers: .*\|mpi: .*\|equal: .*' "$state/fault.out" | sed 's/^/   /'
leftovers

step "done in $(elapsed "$started") s"
