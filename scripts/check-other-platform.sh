#!/usr/bin/env bash
# multiproc supports Linux only. On any other target its build must stop with one error that
# says so (a compile_error! in lib.rs), not with one error per libc item that the target lacks.
# This checks it on macOS (x86_64-apple-darwin), with every feature on: `cargo check` needs
# the target's standard library (rustup target add), not its linker.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-apple-darwin
if ! rustup target list --installed | grep -qx "$target"; then
    if ! rustup target add "$target"; then
        echo "check-other-platform: SKIPPED: the standard library for $target could not be installed"
        exit 0
    fi
fi

if out=$(cargo check -p multiproc --all-features --target "$target" --message-format short 2>&1); then
    echo "check-other-platform: multiproc built for $target; it must refuse to" >&2
    exit 1
fi
errors=$(grep -c 'error' <<<"$out" || true)
if grep -q 'error: multiproc supports Linux only' <<<"$out" &&
    grep -q 'could not compile `multiproc` (lib) due to 1 previous error' <<<"$out" &&
    [ "$errors" -eq 2 ]; then
    echo "check-other-platform: on $target the build stops with one error:"
    grep 'error: multiproc supports Linux only' <<<"$out"
else
    echo "check-other-platform: on $target the build should stop with one error; it said:" >&2
    echo "$out" >&2
    exit 1
fi
