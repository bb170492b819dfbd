//! What a figure is: the trait every benchmark figure implements, and the other
//! implementations (Python's, C programs, commands, the Rust peers) it is compared with.

pub(crate) use crate::mode::{BoxError, Mode};

/// One benchmark figure, measured for multiproc and for Python's `multiprocessing`.
///
/// Adding a figure is one module in `figures/` implementing this trait, plus one line in
/// `figures::all`. A figure whose multiproc side does not exist yet is not registered.
pub(crate) trait Figure {
    /// `group.name`, for example `start_join.forkserver`.
    fn name(&self) -> &'static str;

    /// One line saying what is measured, for `--list`.
    fn description(&self) -> &'static str;

    /// The unit of the value, for example `ms` or `MB/s`. Python's script must report the same.
    fn unit(&self) -> &'static str;

    /// Whether a larger value is better (throughput) rather than a smaller one (time).
    fn higher_is_better(&self) -> bool;

    /// The value multiproc aims for, if the project set one.
    fn target(&self) -> Option<f64> {
        None
    }

    /// One round of multiproc's measurement, run in this process.
    fn measure(&self, mode: Mode) -> Result<f64, BoxError>;

    /// The Python script that measures the same figure with `multiprocessing`.
    fn python(&self) -> Option<Script>;

    /// Further implementations to compare with (a C program, a command, a Rust peer).
    fn peers(&self) -> Vec<Peer> {
        Vec::new()
    }
}

/// A script in `benchmarks/python/`, run as `python3 SCRIPT FIGURE [--quick] [ARGS...]`; it
/// prints one JSON line `{"value": ..., "unit": ...}`.
#[derive(Clone, Debug)]
pub(crate) struct Script {
    /// The file name in `benchmarks/python/`.
    pub(crate) file: &'static str,
    /// Arguments after the figure name and `--quick`.
    pub(crate) args: Vec<String>,
}

impl Script {
    /// `file` with no further arguments.
    pub(crate) fn new(file: &'static str) -> Script {
        Script {
            file,
            args: Vec::new(),
        }
    }

    /// `file` with further arguments.
    pub(crate) fn with_args(file: &'static str, args: &[&str]) -> Script {
        Script {
            file,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        }
    }
}

/// Another implementation of a figure, reported under its own `impl` name.
#[derive(Clone, Debug)]
pub(crate) struct Peer {
    /// The `impl` value in the JSON lines, for example `"c"` or `"wc"`.
    pub(crate) name: &'static str,
    pub(crate) kind: PeerKind,
}

/// How a peer is run.
#[derive(Clone, Debug)]
pub(crate) enum PeerKind {
    /// A C program, compiled with `cc -O2` into the target directory on first use and run as
    /// `PROGRAM FIGURE [--quick]`; it prints `{"value": ..., "unit": ...}`.
    C {
        /// The program's name (and the compiled binary's file name).
        program: &'static str,
        /// Its source text (`include_str!` of a file in `benchmarks/c/`).
        source: &'static str,
    },
    /// Another Python script (a variant of the Python implementation).
    Python(Script),
    /// Anything else: a function that measures one round in this process (it may run
    /// commands, for example `wc -w` over a corpus, and time them).
    Custom(fn(Mode) -> Result<f64, BoxError>),
    /// A Rust crate that does multiproc's job, measured by its own program in `peers/`.
    Rust(&'static RustPeer),
}

impl Peer {
    /// A C program peer.
    pub(crate) fn c(name: &'static str, program: &'static str, source: &'static str) -> Peer {
        Peer {
            name,
            kind: PeerKind::C { program, source },
        }
    }

    /// A Python script peer.
    pub(crate) fn python(name: &'static str, script: Script) -> Peer {
        Peer {
            name,
            kind: PeerKind::Python(script),
        }
    }

    /// A Rust crate's program in `peers/`, reported under the crate's name.
    pub(crate) fn rust(peer: &'static RustPeer) -> Peer {
        Peer {
            name: peer.name,
            kind: PeerKind::Rust(peer),
        }
    }

    /// A peer measured by a function.
    pub(crate) fn custom(name: &'static str, measure: fn(Mode) -> Result<f64, BoxError>) -> Peer {
        Peer {
            name,
            kind: PeerKind::Custom(measure),
        }
    }
}

/// A Rust crate that does multiproc's job, measured with the harness's protocols by a program
/// of its own (`peers/<crate>.rs`, a binary of this package), so that the crate is set up
/// exactly as its documentation says. The program is run as `PROGRAM FIGURE [--quick]`
/// like the other external implementations.
///
/// Every figure is either offered by a peer (the figure's [`Figure::peers`] names it) or in
/// its [`RustPeer::lacks`], with the reason; a test holds the two together.
#[derive(Debug)]
pub(crate) struct RustPeer {
    /// The crate's name: the `impl` value in the JSON lines.
    pub(crate) name: &'static str,
    /// The version measured, pinned in `Cargo.toml`.
    pub(crate) version: &'static str,
    /// The program's name (a `[[bin]]` of this package).
    pub(crate) program: &'static str,
    /// The figures the crate has no counterpart for (patterns as on the command line: full
    /// names, group prefixes, a trailing `*`), and why.
    pub(crate) lacks: &'static [(&'static str, &'static str)],
}

impl RustPeer {
    /// Why the crate has no counterpart of `figure`, if it has none.
    pub(crate) fn lacks(&self, figure: &str) -> Option<&'static str> {
        self.lacks
            .iter()
            .find(|(pattern, _)| crate::matches(figure, pattern))
            .map(|(_, why)| *why)
    }
}

/// procspawn: `spawn` of a function in a fresh run of the program, and a pool of such
/// processes.
pub(crate) static PROCSPAWN: RustPeer = RustPeer {
    name: "procspawn",
    version: "1.0.2",
    program: "peer-procspawn",
    lacks: &[
        (
            "start_join.fork",
            "no fork start method: every process runs the program afresh",
        ),
        (
            "start_join.async_many",
            "no async join: its async support was removed, since spawning blocked anyway",
        ),
        (
            "queue",
            "no queue or channel of its own: its documentation passes ipc-channel endpoints as \
             spawn arguments (see ipc-channel)",
        ),
        (
            "pipe",
            "no pipe or channel of its own: its documentation passes ipc-channel endpoints as \
             spawn arguments (see ipc-channel)",
        ),
        ("manager", "no manager or shared objects"),
        (
            "pool.map*",
            "no map: its pool runs one call per Pool::spawn, with no chunking (see \
             pool.apply_async)",
        ),
        ("lock", "no locks"),
        ("event", "no events"),
        ("wordcount", "no MapReduce"),
    ],
};

/// ipc-channel: typed and byte channels between processes, which it does not start.
pub(crate) static IPC_CHANNEL: RustPeer = RustPeer {
    name: "ipc-channel",
    version: "0.23.1",
    program: "peer-ipc-channel",
    lacks: &[
        ("start_join", "starts no processes"),
        ("manager", "no manager or shared objects"),
        ("pool", "no pool"),
        ("lock", "no locks"),
        ("event", "no events"),
        ("wordcount", "no MapReduce"),
    ],
};

/// crossmist: `#[crossmist::func]` functions started in a fresh run of the program, with
/// typed channels passed as arguments.
pub(crate) static CROSSMIST: RustPeer = RustPeer {
    name: "crossmist",
    version: "1.1.2",
    program: "peer-crossmist",
    lacks: &[
        (
            "start_join.fork",
            "no fork start method: every process runs the program afresh",
        ),
        (
            "start_join.async_many",
            "its tokio variants are behind a crate feature that the peer program does not \
             build: every crossmist spawn panics under current Rust anyway (see RESULTS.md)",
        ),
        ("manager", "no manager or shared objects"),
        ("pool", "no pool"),
        ("lock", "no locks"),
        ("event", "no events"),
        ("wordcount", "no MapReduce"),
    ],
};

/// Every Rust peer, in the order they are run.
pub(crate) static RUST_PEERS: [&RustPeer; 3] = [&PROCSPAWN, &IPC_CHANNEL, &CROSSMIST];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rust_peer_offers_or_lacks_each_figure_never_both() {
        for figure in crate::figures::all() {
            let offered: Vec<&str> = figure
                .peers()
                .iter()
                .filter_map(|p| match p.kind {
                    PeerKind::Rust(rust) => Some(rust.name),
                    _ => None,
                })
                .collect();
            for peer in RUST_PEERS {
                let offers = offered.contains(&peer.name);
                let lacks = peer.lacks(figure.name());
                assert!(
                    offers != lacks.is_some(),
                    "{} for {}: offered {offers}, lacks {lacks:?}",
                    peer.name,
                    figure.name()
                );
            }
        }
    }

    #[test]
    fn the_versions_reported_are_pinned_and_locked() {
        let manifest = include_str!("../Cargo.toml");
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"))
            .expect("the workspace's Cargo.lock");
        for peer in RUST_PEERS {
            let pin = format!("\n{} = \"={}\"", peer.name, peer.version);
            assert!(manifest.contains(&pin), "Cargo.toml lacks {pin:?}");
            let locked = format!("name = \"{}\"\nversion = \"{}\"\n", peer.name, peer.version);
            assert!(lock.contains(&locked), "Cargo.lock lacks {locked:?}");
            let program = format!("name = \"{}\"", peer.program);
            assert!(manifest.contains(&program), "Cargo.toml lacks {program:?}");
        }
    }
}
