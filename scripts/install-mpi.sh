#!/usr/bin/env bash
# Installs what the MPI executor (crates/multiproc-mpi) needs, from Debian packages:
#   openmpi-bin      mpirun and the Open MPI runtime
#   libopenmpi-dev   the headers and libmpi that the `mpi` crate links against
#   libclang-dev     libclang, which the `mpi` crate's build script (bindgen) loads
# Idempotent: does nothing when all three are already there. Needs root (or sudo).
set -euo pipefail

packages=(openmpi-bin libopenmpi-dev libclang-dev)

have_all() {
    command -v mpirun >/dev/null 2>&1 || return 1
    command -v mpicc >/dev/null 2>&1 || return 1
    mpicc --showme:incdirs >/dev/null 2>&1 || return 1
    local inc
    for inc in $(mpicc --showme:incdirs); do
        [ -f "$inc/mpi.h" ] && break
    done
    [ -n "${inc:-}" ] && [ -f "$inc/mpi.h" ] || return 1
    dpkg-query -W -f='${Status}\n' "${packages[@]}" 2>/dev/null | grep -c 'install ok installed' |
        grep -qx "${#packages[@]}"
}

if have_all; then
    echo "install-mpi: Open MPI $(mpirun --version 2>/dev/null | head -n1 | awk '{print $NF}') and libclang already installed"
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-mpi: needs root or sudo" >&2; exit 1; }
    sudo=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when the candidates are unknown (a fresh image has none).
if ! apt-cache policy "${packages[@]}" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    "${sudo[@]}" apt-get update -q
fi
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}"

have_all || { echo "install-mpi: the packages were installed but mpirun or mpi.h is missing" >&2; exit 1; }
echo "install-mpi: installed $(mpirun --version | head -n1)"
