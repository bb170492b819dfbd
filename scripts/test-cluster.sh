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
# nodes, then breaks things: a node killed, a rank stopped, a node partitioned, a node that
# cannot be reached when the job starts, and a partition that heals. Each case starts from a
# cluster checked to be healthy (no process, file or connection left by the case before, every
# node answering every other), and prints what happened, the time to error, and what was left
# behind (nothing). A trap tears everything down, even on failure.
#
#   TEST_CLUSTER_CASES="faults" scripts/test-cluster.sh   # some of: tests placement wordcount
#                                                          # faults (default: all, in order)
#
# Needs root and network namespaces; prints why and exits 0 when they are not there. Every
# wait has a bound, generous enough for a loaded machine: no case passes or fails on timing.
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
set -E # a command that fails says so, even in a function
trap 'echo "test-cluster: FAILED: line $LINENO: $BASH_COMMAND (status $?)" >&2' ERR
cases=" ${TEST_CLUSTER_CASES:-tests placement wordcount faults} "
cases=${cases//,/ }
for case in $cases; do
    case "$case" in tests | placement | wordcount | faults) ;;
    *) fail "unknown case '$case' in TEST_CLUSTER_CASES (tests, placement, wordcount, faults)" ;;
    esac
done
want() { [[ "$cases" == *" $1 "* ]]; }

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
    trap - EXIT INT TERM ERR
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
trap teardown EXIT
trap 'echo "test-cluster: interrupted" >&2; exit 130' INT TERM

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
    for _ in $(seq 300); do
        [ "$(nsenter -t "${holder[$node]}" -u hostname 2>/dev/null)" = "$node" ] && break
        sleep 0.1
    done
    [ "$(nsenter -t "${holder[$node]}" -u hostname 2>/dev/null)" = "$node" ] ||
        fail "$node did not come up within 30 s"
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
# Daemons are launched as Open MPI does over ssh by default (from node1: the launch tree's
# first level holds 64 nodes), each staying attached to its agent as to an ssh session: a
# daemon that fails, even one that cannot reach mpirun, ends its session, and mpirun reports
# it. (With plm_rsh_no_tree_spawn, daemons detach instead, and one that cannot reach mpirun
# dies unseen while mpirun waits for it forever.)
export OMPI_MCA_btl=tcp,vader,self # TCP between nodes, shared memory within one
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

# answers NODE ADDRESS: whether ADDRESS answers NODE now. Nothing listens on port 9, so a
# connection there that is refused got its answer (a lost one times out, an address that
# does not resolve is unreachable).
answers() {
    { on "$1" timeout 5 bash -c "exec 3<>/dev/tcp/$2/9" 2>&1 || true; } | grep -q refused
}

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

# Files in the nodes' private /tmp and /dev/shm (fresh and empty when the node came up),
# other than Open MPI's empty session directories: those it leaves after a job in which a
# process ended without MPI_Finalize (as ranks and drivers that give up do), holding nothing.
node_files() {
    local node
    for node in node1 node2 node3; do
        on "$node" sh -c 'for f in /tmp/* /tmp/.[!.]* /dev/shm/* /dev/shm/.[!.]*; do
            [ -e "$f" ] || continue
            case "$f" in /tmp/ompi.*) [ -n "$(find "$f" ! -type d)" ] || continue ;; esac
            echo "$f"
        done; exit 0' | sed "s|^|$node:|"
    done
}
ompi_empty_dirs() { # those empty session directories, one per job
    local node
    for node in node1 node2 node3; do
        on "$node" sh -c 'for d in /tmp/ompi.*; do
            [ -d "$d" ] && [ -z "$(find "$d" ! -type d)" ] && find "$d" -mindepth 1 -maxdepth 1
        done; exit 0' | sed "s|^|$node:|"
    done
}

# TCP sockets of each node other than TIME-WAIT (harmless): after a job, those of a cut-off
# peer, still retransmitting their last segment.
node_sockets() {
    local node
    for node in node1 node2 node3; do
        on "$node" ss -Htan | awk -v n="$node" '$1 != "TIME-WAIT" { print n ":" $1 ":" $4 "->" $5 }'
    done
}

# Waits until no node runs anything (bounded), and says how long that took; fails otherwise.
# Then lists the files left in the nodes' /tmp and /dev/shm (EXPECT_FILES: the node allowed
# to leave some, with the reason), and removes them so that the next case starts clean.
leftovers() {
    local since left files
    since=$(date +%s.%N)
    for _ in $(seq 600); do
        [ -z "$(node_procs)" ] && break
        sleep 0.1
    done
    left=$(node_procs | tr '\n' ' ')
    [ -z "$left" ] || fail "processes left behind 60 s after the job ended: $left"
    echo "   leftovers: no process (every node empty $(elapsed "$since") s after the job ended)"
    files=$(node_files)
    if [ -z "$files" ]; then
        echo "   leftovers: no file in any node's /tmp or /dev/shm"
    elif [ -n "${EXPECT_FILES:-}" ] && ! echo "$files" | grep -qv "^${EXPECT_FILES%% *}:"; then
        echo "   files left, as expected on ${EXPECT_FILES}: $(echo "$files" | tr '\n' ' ')"
    else
        fail "files left behind: $(echo "$files" | tr '\n' ' ')"
    fi
    files=$(ompi_empty_dirs)
    [ -z "$files" ] || echo "   Open MPI's empty session directories: $(echo "$files" | tr '\n' ' ')"
    for node in node1 node2 node3; do
        on "$node" sh -c 'rm -rf /tmp/* /tmp/.[!.]* /dev/shm/* /dev/shm/.[!.]*'
    done
}

# What the nodes look like, for a failure's report.
diag() {
    local node pid
    {
        echo "--- the cluster now"
        ip -n "$prefix-bridge" -br link show master br0
        for node in node1 node2 node3; do
            echo "[$node] neighbours: $(on "$node" ip neigh show dev eth0 | tr '\n' ';')"
            on "$node" ss -tanp | sed "s/^/[$node] /"
            for pid in $(ip netns pids "$prefix-$node"); do
                [ "$pid" = "${holder[$node]}" ] && continue
                echo "[$node] $pid $(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-160)"
            done
        done
        echo "---"
    } >&2
}

# Before each case: the cluster is as good as new, checked. No process runs on any node (the
# case before waited for that); no connection of an earlier job lingers (after a cut, a
# closed socket retransmits its last segment until the peer answers); and every node answers
# every other one. After a cut, a node may still be resolving a neighbour's address with
# probes sent while its link was down: a connection made then fails at once ("no route to
# host"). Answering here means a fresh resolution that went through.
healthy() {
    local since problems sockets a b deadline=$((SECONDS + 120))
    since=$(date +%s.%N)
    while :; do
        problems=$(node_procs | tr '\n' ' ')
        for a in node1 node2 node3; do
            for b in 1 2 3; do
                [ "$a" = "node$b" ] || answers "$a" "$subnet.1$b" || problems+=" $a cannot reach node$b;"
            done
        done
        # Sockets of an earlier job: their processes are gone and the network is back, so
        # each closes at its next retransmission (TCP backs off during a long cut).
        sockets=$(node_sockets | tr '\n' ' ')
        [ -z "$sockets" ] || problems+=" open: $sockets"
        [ -z "$(node_files)$(ompi_empty_dirs)" ] || problems+=" files: $(node_files; ompi_empty_dirs)"
        [ -z "$problems" ] && break
        [ "$SECONDS" -lt "$deadline" ] || { diag; fail "the cluster is not healthy after 120 s: $problems"; }
        sleep 0.5
    done
    echo "   healthy: no process, file or connection left on any node, every node answers the others ($(elapsed "$since") s)"
}

healthy
echo "   nothing outside: node1 has $(on node1 ip route | wc -l) route(s), all on $subnet.0/24"

# ---------------------------------------------------------------------------------------
if want tests; then
    step "the MPI executor's tests, across the nodes (default hostfile: node1, node2, node3)"
    t=$(date +%s.%N)
    rc=0
    on node1 env OMPI_MCA_orte_default_hostfile="$state/hosts3" MULTIPROC_MPI_SHARED_DIR="$state" \
        timeout -k 10 1200 "$mpi_tests" --test-threads 1 > "$state/tests.out" 2>&1 || rc=$?
    grep -E '^test |test result' "$state/tests.out" | sed 's/^/   /' || true
    [ "$rc" -eq 0 ] || { tail -40 "$state/tests.out" >&2; fail "the MPI executor's tests failed across nodes (status $rc)"; }
    echo "   ($(elapsed "$t") s)"
    leftovers
fi

if want placement; then
    step "placement: mpi_map under mpirun on 3 nodes, and spawned from a singleton"
    healthy
    out=$(on node1 timeout -k 5 300 mpirun --hostfile "$state/hosts3" -np 3 "$examples/mpi_map" 2>&1) ||
        { echo "$out" >&2; fail "mpi_map on 3 nodes failed"; }
    echo "$out" | sed 's/^/   /'
    echo "$out" | grep -qx 'workers: 2 (mpirun, hosts: node2, node3)' || fail "ranks not on node2 and node3"
    echo "$out" | grep -qx 'equal: true' || fail "mpi_map results differ"
    printf 'node2 slots=1\nnode3 slots=1\n' > "$state/hosts-workers"
    out=$(on node1 env OMPI_MCA_orte_default_hostfile="$state/hosts-workers" \
        timeout -k 5 300 "$examples/mpi_map" --spawn 2 2>&1) ||
        { echo "$out" >&2; fail "mpi_map spawning on 2 nodes failed"; }
    echo "$out" | sed 's/^/   /'
    echo "$out" | grep -qx 'workers: 2 (spawned, hosts: node2, node3)' || fail "spawned ranks not on node2 and node3"
    echo "$out" | grep -qx 'equal: true' || fail "mpi_map results differ (spawned)"
    leftovers
fi

if want wordcount; then
    step "wordcount --executor mpi across nodes: output identical to the local run"
    healthy
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
        timed local on node1 timeout 300 "$wordcount" --workers 2 --format "$format" "$corpus"
        timed nodes2 on node1 timeout -k 5 300 mpirun --display-map --hostfile "$state/hosts2" -np 3 \
            "$wordcount" --executor mpi --format "$format" "$corpus"
        timed nodes3 on node1 timeout -k 5 300 mpirun --display-map --hostfile "$state/hosts3" -np 3 \
            "$wordcount" --executor mpi --format "$format" "$corpus"
        for n in 2 3; do
            # Open MPI's map of where it put each rank comes first (from mpirun, then again
            # from the daemons it launched), then wordcount's output.
            map=$(sed -n '/JOB MAP/,/^ =====*$/{p;/^ =====*$/q}' "$state/nodes$n.out")
            awk 'FNR == NR { if (/^ =====*$/) last = FNR; next } FNR > last' \
                "$state/nodes$n.out" "$state/nodes$n.out" | sed '/./,$!d' > "$state/nodes$n.report"
            cmp -s "$state/local.out" "$state/nodes$n.report" ||
                { diff "$state/local.out" "$state/nodes$n.report" | head >&2 || true; fail "--format $format on $n nodes differs"; }
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
fi

want faults || {
    step "done in $(elapsed "$started") s"
    exit 0
}

# ---------------------------------------------------------------------------------------
# The faults: mpi_map under mpirun, its driver on node1 and a worker rank on node2 and on
# node3: 1000 tasks of 20 ms, about 10 s of work (sleeping: load does not shorten it), with
# a silence timeout of TIMEOUT seconds. Each fault hits node3 once the executor has been
# working for 1 s. The bounds below are generous, for a loaded machine: what each case shows
# does not hang on how fast things go.
fault_job=""
fault_start() { # fault_start TIMEOUT: starts the job, in the background: $fault_job is the
    # process of `timeout` itself (no shell in between), which passes a TERM on to mpirun
    nsenter -t "${holder[node1]}" -n -u -m -- timeout -k 5 300 mpirun --hostfile "$state/hosts3" \
        -np 3 "$examples/mpi_map" --task-ms 20 --timeout "$1" > "$state/fault.out" 2> "$state/fault.err" &
    fault_job=$!
}
fault_running() { kill -0 "$fault_job" 2>/dev/null; }
fault_wait() { # waits for the job (bounded by its timeout): $fault_rc, and in $fault_err
    # what Open MPI and the program said (a daemon's own messages come through its agent's
    # standard output, so through mpirun's)
    fault_rc=0
    wait "$fault_job" || fault_rc=$?
    fault_err=$(grep -vE '^(workers|mpi|again|local|equal): ' "$state/fault.out" |
        cat - "$state/fault.err" | grep -vE '^\s*$|^-+$|setpgid' || true)
}
fault_report() { # fault_report SINCE: the status, the time since SINCE, and what was said
    fault_after=$(elapsed "$1")
    echo "   mpirun exit status $fault_rc, $fault_after s after the fault"
    [ -z "$fault_err" ] || echo "$fault_err" | head -12 | sed 's/^/   | /'
}
within() { # within SECONDS WHAT: fails unless $fault_after is below the bound
    awk -v s="$fault_after" -v b="$1" 'BEGIN { exit !(s < b) }' || fail "$2 took $fault_after s (bound: $1 s)"
}

fault_run() { # fault_run NAME TIMEOUT ACTION [HEAL-ACTION]: runs the job, breaks it, reports.
    local name=$1 timeout=$2 action=$3 heal=${4:-} t0 tf
    step "fault: $name"
    healthy
    t0=$(date +%s.%N)
    fault_start "$timeout"
    # Started: the driver has heard from every worker and says so (or the job ended first).
    for _ in $(seq 1800); do
        grep -q '^workers:' "$state/fault.out" && break
        fault_running || break
        sleep 0.1
    done
    if ! grep -q '^workers:' "$state/fault.out"; then
        diag
        local why="ended $(elapsed "$t0") s into the run, before the executor started"
        if fault_running; then
            why="had not started its executor 180 s into the run"
            kill -TERM "$fault_job" 2>/dev/null
        fi
        fault_wait
        fail "the job $why (status $fault_rc): $fault_err"
    fi
    echo "   the executor started $(elapsed "$t0") s into the run: $(grep '^workers:' "$state/fault.out")"
    sleep 1
    fault_running && ! grep -q '^mpi:' "$state/fault.out" ||
        fail "the job ended before the fault: $(cat "$state/fault.out" "$state/fault.err")"
    tf=$(date +%s.%N)
    eval "$action"
    echo "   $(elapsed "$t0") s into the run, the map under way: $action"
    if [ -n "$heal" ]; then
        sleep 2
        # The cut must have met the job at work, or this case shows nothing.
        fault_running && ! grep -q '^mpi:' "$state/fault.out" ||
            fail "the job ended during the cut: $(cat "$state/fault.out" "$state/fault.err")"
        eval "$heal"
        echo "   $(elapsed "$tf") s later, the map still under way: $heal"
        local th
        th=$(date +%s.%N)
        while fault_running && ! grep -q '^mpi:' "$state/fault.out"; do sleep 0.1; done
        if grep -q '^mpi:' "$state/fault.out"; then
            echo "   the MPI map finished $(elapsed "$th") s after the heal"
        fi
    fi
    fault_wait
    fault_report "$tf"
}

node3_rank() { # the worker rank's pid on node3
    local pid
    for pid in $(ip netns pids "$prefix-node3"); do
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = mpi_map ] &&
            [ "$(cat "/proc/$(awk '{print $4}' "/proc/$pid/stat")/comm" 2>/dev/null)" = orted ] &&
            { echo "$pid"; return; }
    done
}

# Open MPI ends the job first, and what it says varies with what it notices first: the
# node's agent session ending ("unable to reliably start one or more daemons", even mid-job,
# as over ssh), its daemon's connection lost ("lost communication with a remote daemon ... on
# node node3"), or a rank's. A node that dies leaves what its processes could not clean up:
# Open MPI's session directory in its /tmp, shared memory in /dev/shm.
fault_run "a node killed (every process of node3, SIGKILL)" 10 \
    'for p in $(ip netns pids $prefix-node3); do [ $p = ${holder[node3]} ] || kill -KILL $p; done'
[ "$fault_rc" -ne 0 ] || fail "the job succeeded without node3"
within 60 "the end of the job"
EXPECT_FILES="node3 (killed)" leftovers

fault_run "a rank stopped (the worker rank on node3, SIGSTOP)" 10 'kill -STOP $(node3_rank)'
[ "$fault_rc" -ne 0 ] || fail "the job succeeded with a stopped rank"
echo "$fault_err" | grep -qE 'MPI rank 2 \(pid [0-9]+ on node3\) sent nothing for [0-9.]+ s' ||
    fail "the driver did not name the silent rank on node3"
within 60 "the end of the job"
leftovers

# The silence timeout (20 s) is above the OOB keepalive bound (5 + 2 x 3 = 11 s), as it
# should be: Open MPI notices the cut first, while its control connections are idle, and ends
# the job on both sides. (A driver that gives up first makes mpirun write to the lost node,
# and TCP retransmits for about 15 minutes before keepalive can apply.)
fault_run "a node partitioned (node3's link cut, for good)" 20 "ip -n $prefix-bridge link set node3 down"
[ "$fault_rc" -ne 0 ] || fail "the job succeeded across a partition"
echo "$fault_err" | grep -q 'node3' || fail "nothing names node3"
within 60 "mpirun's return"
# Cut off, node3 cleans up by itself: its daemon gives up on mpirun (keepalive) and kills its
# rank, which would otherwise give up on its silent driver.
leftovers
ip -n "$prefix-bridge" link set node3 up

# The job cannot start: node3's daemon, launched through its agent, cannot reach mpirun.
step "fault: a node unreachable when the job starts (node3's link cut before mpirun)"
healthy
ip -n "$prefix-bridge" link set node3 down
tf=$(date +%s.%N)
fault_start 10
fault_wait
fault_report "$tf"
[ "$fault_rc" -ne 0 ] || fail "the job succeeded without node3"
! grep -q '^workers:' "$state/fault.out" || fail "the job started without node3"
echo "$fault_err" | grep -qE 'Local host: +node3' || fail "nothing names node3"
within 60 "mpirun's return"
leftovers
ip -n "$prefix-bridge" link set node3 up

# A cut shorter than the silence timeout (10 s) and than the time keepalive needs to give
# up (at least 11 - 5 = 6 s: a connection is probed only once idle for 5 s): the job goes on.
fault_run "a partition that heals (node3's link cut for 2 s)" 10 \
    "ip -n $prefix-bridge link set node3 down" "ip -n $prefix-bridge link set node3 up"
[ "$fault_rc" -eq 0 ] || fail "the job failed across a partition that healed"
grep -q '^mpi:' "$state/fault.out" || fail "the MPI map did not finish after the partition healed"
grep -qx 'equal: true' "$state/fault.out" || fail "results differ after the partition healed"
within 120 "the rest of the job"
grep -x 'mpi: .*\|local: .*\|equal: .*' "$state/fault.out" | sed 's/^/   /'
leftovers

step "done in $(elapsed "$started") s"
