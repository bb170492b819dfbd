//! Checks that the `rust-version` of every crate of a workspace is true, with only today's
//! toolchain at hand (no older Rust can be installed to try the build with):
//!
//! - every crate declares a `rust-version`;
//! - no dependency that building the crate compiles (on this host, all features on) needs a
//!   newer Rust than it declares: its `rust-version`, or the first release of its edition;
//! - no language feature in the crate's sources (see [`features`]) is newer than it declares.
//!
//! The third kind, library items (`Option::is_none_or`, `u64::midpoint`, …), is clippy's
//! `incompatible_msrv` lint, which the workspace denies: together they cover what a crate can
//! use. What neither sees is listed in [`features`].
//!
//! ```text
//! cargo run -p msrv-check                                        # the root workspace
//! cargo run -p msrv-check -- Cargo.toml crates/multiproc-mpi/Cargo.toml
//! ```
//!
//! Exits with 1, naming each crate and what it needs, when a `rust-version` is false.

mod features;
mod metadata;
mod version;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use metadata::{Metadata, Package};
use version::RustVersion;

fn main() -> ExitCode {
    let mut manifests: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if manifests.is_empty() {
        manifests.push(PathBuf::from("Cargo.toml"));
    }
    let mut ok = true;
    for manifest in &manifests {
        match check_workspace(manifest) {
            Ok(holds) => ok &= holds,
            Err(e) => {
                eprintln!("msrv-check: {}: {e}", manifest.display());
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Checks every crate of the workspace of `manifest`; prints one paragraph per crate and
/// returns whether all hold.
fn check_workspace(manifest: &Path) -> Result<bool, String> {
    let host = host_triple()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--all-features"])
        .args(["--filter-platform", &host, "--manifest-path"])
        .arg(manifest)
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let metadata: Metadata = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("cannot read cargo metadata's output: {e}"))?;
    let mut members: Vec<&Package> = metadata.members().collect();
    members.sort_by(|a, b| a.name.cmp(&b.name));
    let mut all_hold = true;
    for member in members {
        all_hold &= check_crate(&metadata, member)?;
    }
    Ok(all_hold)
}

/// The target triple of this host, from `rustc -vV`.
fn host_triple() -> Result<String, String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run rustc -vV: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "rustc -vV names no host".to_owned())
}

/// One use of a language feature, in a file.
struct Use {
    file: PathBuf,
    found: features::Found,
}

/// Checks one crate; prints what it found.
fn check_crate(metadata: &Metadata, member: &Package) -> Result<bool, String> {
    let title = format!("{} {}", member.name, member.version);
    let Some(declared) = member.rust_version.as_deref() else {
        println!("{title}: FALSE: declares no rust-version");
        return Ok(false);
    };
    let declared = RustVersion::parse(declared)
        .ok_or_else(|| format!("{title}: rust-version {declared:?} is not a version"))?;

    let deps = metadata.dependencies(member);
    let uses = scan_crate(member)?;

    let newest_dep = deps.iter().max_by_key(|d| d.rust);
    let newest_use = uses.iter().max_by_key(|u| u.found.feature.since());
    let needed = newest_dep
        .map(|d| d.rust)
        .into_iter()
        .chain(newest_use.map(|u| u.found.feature.since()))
        .chain([member.edition_floor()])
        .max()
        .unwrap_or(RustVersion::new(0));
    let holds = needed <= declared;
    if holds {
        println!("{title}: rust-version {declared} holds");
    } else {
        println!("{title}: rust-version {declared} is FALSE: it needs {needed}");
    }

    // Language features: the newest, with where; every one newer than declared.
    let mut by_feature: BTreeMap<features::Feature, Vec<&Use>> = BTreeMap::new();
    for u in &uses {
        by_feature.entry(u.found.feature).or_default().push(u);
    }
    if by_feature.is_empty() {
        println!(
            "    language: nothing newer than its edition ({})",
            member.edition_floor()
        );
    }
    for (feature, uses) in by_feature.iter().rev() {
        let too_new = feature.since() > declared;
        let shown = if too_new { uses.len() } else { 1 };
        let places: Vec<String> = uses
            .iter()
            .take(shown)
            .map(|u| format!("{}:{}:{}", u.file.display(), u.found.line, u.found.column))
            .collect();
        let more = match uses.len() - shown {
            0 => String::new(),
            n => format!(", and {n} more"),
        };
        println!(
            "    language: {} {feature}: {}{more}{}",
            feature.since(),
            places.join(", "),
            if too_new {
                "  <- newer than declared"
            } else {
                ""
            },
        );
    }

    // Dependencies: the newest, and every one newer than declared.
    let undeclared = deps.iter().filter(|d| !d.declared).count();
    if let Some(newest) = newest_dep {
        println!(
            "    dependencies: {} crates, the newest needs {} ({} {}); {undeclared} declare no \
             rust-version and count by their edition",
            deps.len(),
            newest.rust,
            newest.name,
            newest.version,
        );
    }
    for d in deps.iter().filter(|d| d.rust > declared) {
        println!(
            "    dependency {} {} needs {}  <- newer than declared",
            d.name, d.version, d.rust
        );
    }
    if holds && needed < declared {
        println!("    (nothing found needs more than {needed})");
    }
    Ok(holds)
}

/// Every use of a listed language feature in the crate's sources: every `.rs` file under its
/// directory, less `target/` and the directories of other crates nested in it.
fn scan_crate(member: &Package) -> Result<Vec<Use>, String> {
    let dir = member
        .manifest_path
        .parent()
        .ok_or("a manifest path with no directory")?;
    let mut files = Vec::new();
    rust_files(dir, true, &mut files).map_err(|e| format!("{}: {e}", dir.display()))?;
    files.sort();
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut uses = Vec::new();
    for file in files {
        let source =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let shown = file.strip_prefix(&cwd).unwrap_or(&file).to_path_buf();
        let found = features::scan(&source).map_err(|e| {
            let at = e.span().start();
            format!(
                "{}:{}:{}: cannot parse: {e}",
                shown.display(),
                at.line,
                at.column + 1
            )
        })?;
        uses.extend(found.into_iter().map(|found| Use {
            file: shown.clone(),
            found,
        }));
    }
    Ok(uses)
}

fn rust_files(dir: &Path, root: bool, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !root && (dir.join("Cargo.toml").exists() || dir.ends_with("target")) {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        let kind = entry.file_type()?;
        if hidden {
            continue;
        }
        if kind.is_dir() {
            rust_files(&path, false, out)?;
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}
