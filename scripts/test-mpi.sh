#!/usr/bin/env bash
# The MPI part of CI: installs Open MPI (scripts/install-mpi.sh), then checks and tests the MPI
# executor (crates/multiproc-mpi) and `wordcount --executor mpi`, under `mpirun -np 3`, as a
# singleton that spawns its workers (MPI_Comm_spawn), and with a hostfile listing localhost
# twice; finally shows the MPI and local outputs of wordcount side by side.
#
# CI runs as root on 2 cores: Open MPI must be allowed to run as root and to put more ranks
# than cores on the machine. Every mpirun here and in the tests is bounded by `timeout`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-mpi.sh

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# The project's Open MPI parameters (OOB keepalive), as users are told to run.
. scripts/mpi-params.sh

step() { printf '\n== %s\n' "$*"; }

step "multiproc-mpi: format, lints, tests"
(
    cd crates/multiproc-mpi
    cargo fmt --check
    cargo clippy --all-targets -- -D warnings
    cargo test
)

step "wordcount --features mpi: lints, tests"
cargo clippy -p wordcount --all-targets --features mpi -- -D warnings
cargo test -p wordcount --features mpi --test mpi

step "wordcount: MPI and local outputs"
# The binary that the tests above built.
wordcount=target/debug/wordcount
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'localhost\nlocalhost\n' > "$work/hostfile"
# The built-in corpus (the chapter's pages), as text and as the full TSV listing.
for format in text tsv; do
    timeout 60 "$wordcount" --format "$format" > "$work/local.$format"
    timeout -k 5 60 mpirun -np 3 "$wordcount" --executor mpi --format "$format" > "$work/mpirun.$format"
    timeout 60 "$wordcount" --executor mpi --workers 2 --format "$format" > "$work/spawn.$format"
    timeout -k 5 60 mpirun --hostfile "$work/hostfile" -np 3 "$wordcount" --executor mpi \
        --format "$format" > "$work/hostfile.$format"
done
for mode in mpirun spawn hostfile; do
    for format in text tsv; do
        if cmp -s "$work/local.$format" "$work/$mode.$format"; then
            echo "wordcount --format $format: $mode output identical to the local run ($(wc -l < "$work/local.$format") lines)"
        else
            echo "wordcount --format $format: $mode output DIFFERS from the local run:" >&2
            diff "$work/local.$format" "$work/$mode.$format" | head -20 >&2
            exit 1
        fi
    done
done
echo
paste -d'|' "$work/local.text" "$work/mpirun.text" | head -12 |
    awk -F'|' 'NR == 1 { printf "%-28s %s\n", "local", "mpirun -np 3" } { printf "%-28s %s\n", $1, $2 }'
