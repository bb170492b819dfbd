#!/usr/bin/env bash
# Publishing, as a dry run: packages and verifies (builds from the package alone) the three
# crates that go to crates.io, in their publishing order:
#
#   1. multiproc-macros and multiproc, with `cargo publish --dry-run -p multiproc-macros -p
#      multiproc`: cargo packages both, and verifies multiproc against the multiproc-macros
#      package just made (a local registry overlay), so it needs neither on crates.io yet;
#   2. multiproc-mpi, a workspace of its own, which that overlay cannot reach: it is verified
#      against the multiproc and multiproc-macros packages of step 1 ([patch] on the command
#      line), which is what it will find on crates.io once they are published. Its build needs
#      Open MPI (scripts/install-mpi.sh).
#
# Set PACKAGE_ALLOW_DIRTY=1 to try it on uncommitted changes (CI runs on a clean checkout).
set -euo pipefail
cd "$(dirname "$0")/.."

dirty=()
if [ "${PACKAGE_ALLOW_DIRTY:-}" = 1 ]; then
    dirty=(--allow-dirty)
fi

step() { printf '\n== %s\n' "$*"; }

step "cargo publish --dry-run -p multiproc-macros -p multiproc"
cargo publish --dry-run "${dirty[@]}" -p multiproc-macros -p multiproc

# Where step 1 left the packages, unpacked.
target=$(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
version_of() { cargo pkgid -p "$1" | sed 's/.*[#@]//'; }
macros="$target/package/multiproc-macros-$(version_of multiproc-macros)"
lib="$target/package/multiproc-$(version_of multiproc)"
for dir in "$macros" "$lib"; do
    [ -f "$dir/Cargo.toml" ] || { echo "package.sh: $dir is missing" >&2; exit 1; }
done

step "multiproc-mpi: cargo publish --dry-run, against the packages above"
scripts/install-mpi.sh
# The patches are for the verifying build. In multiproc-mpi's own workspace, which reaches
# multiproc by path, cargo warns that they are unused and notes that in Cargo.lock before it
# looks for uncommitted changes; so the crate is checked for them here, its Cargo.lock is put
# back afterwards, and cargo is told to allow that one change.
if [ "${PACKAGE_ALLOW_DIRTY:-}" != 1 ] && [ -n "$(git status --porcelain -- crates/multiproc-mpi)" ]; then
    echo "package.sh: crates/multiproc-mpi has uncommitted changes:" >&2
    git status --short -- crates/multiproc-mpi >&2
    exit 1
fi
lock=crates/multiproc-mpi/Cargo.lock
saved=$(mktemp)
cp "$lock" "$saved"
trap 'cp "$saved" "$lock"; rm -f "$saved"' EXIT
(
    cd crates/multiproc-mpi
    cargo publish --dry-run --allow-dirty \
        --config "patch.crates-io.multiproc.path=\"$lib\"" \
        --config "patch.crates-io.multiproc-macros.path=\"$macros\""
)
