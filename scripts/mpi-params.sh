# Sourced by the MPI scripts: exports the Open MPI parameters that ship with the project
# (crates/multiproc-mpi/mca-params.conf) as OMPI_MCA_* environment variables, which `mpirun`
# passes on to the daemons of the other nodes. A parameter already set in the environment
# keeps its value.
#
#   . scripts/mpi-params.sh
mpi_params_file="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/crates/multiproc-mpi/mca-params.conf"
while IFS='=' read -r name value; do
    name="${name//[[:space:]]/}"
    value="${value#"${value%%[![:space:]]*}"}"
    value="${value%"${value##*[![:space:]]}"}"
    case "$name" in '' | \#*) continue ;; esac
    var="OMPI_MCA_$name"
    [ -n "${!var:-}" ] || export "$var=$value"
done < "$mpi_params_file"
unset mpi_params_file name value var
