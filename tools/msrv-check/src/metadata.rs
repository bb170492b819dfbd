//! What `cargo metadata` says of a workspace: its crates, their `rust-version`, and the Rust
//! each of their dependencies needs.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use serde::Deserialize;

use crate::version::RustVersion;

/// The part of `cargo metadata --format-version 1` that the check reads.
#[derive(Debug, Deserialize)]
pub(crate) struct Metadata {
    packages: Vec<Package>,
    workspace_members: Vec<String>,
    resolve: Resolve,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Package {
    id: String,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) rust_version: Option<String>,
    edition: String,
    pub(crate) manifest_path: PathBuf,
}

#[derive(Debug, Deserialize)]
struct Resolve {
    nodes: Vec<Node>,
}

#[derive(Debug, Deserialize)]
struct Node {
    id: String,
    deps: Vec<NodeDep>,
}

#[derive(Debug, Deserialize)]
struct NodeDep {
    pkg: String,
    dep_kinds: Vec<DepKind>,
}

#[derive(Debug, Deserialize)]
struct DepKind {
    /// `null` for a normal dependency, `"build"` or `"dev"`.
    kind: Option<String>,
}

/// A dependency and the Rust it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Needs {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) rust: RustVersion,
    /// Whether the dependency declares a `rust-version` (if not, `rust` comes from its
    /// edition).
    pub(crate) declared: bool,
}

impl Package {
    /// The first Rust release of the package's edition.
    pub(crate) fn edition_floor(&self) -> RustVersion {
        RustVersion::of_edition(&self.edition)
    }

    /// The Rust this package says it needs: its `rust-version`, or else what its edition needs.
    fn needs(&self) -> Needs {
        let declared = self.rust_version.as_deref().and_then(RustVersion::parse);
        let edition = RustVersion::of_edition(&self.edition);
        Needs {
            name: self.name.clone(),
            version: self.version.clone(),
            rust: declared.map_or(edition, |d| d.max(edition)),
            declared: declared.is_some(),
        }
    }
}

impl Metadata {
    /// The workspace's own crates.
    pub(crate) fn members(&self) -> impl Iterator<Item = &Package> {
        self.packages
            .iter()
            .filter(|p| self.workspace_members.contains(&p.id))
    }

    /// Every crate that building `member` compiles (normal and build dependencies, and theirs),
    /// with the Rust it needs. Dev-dependencies are left out: they build only the member's
    /// own tests, examples and benchmarks.
    pub(crate) fn dependencies(&self, member: &Package) -> Vec<Needs> {
        let nodes: HashMap<&str, &Node> = self
            .resolve
            .nodes
            .iter()
            .map(|n| (n.id.as_str(), n))
            .collect();
        let packages: HashMap<&str, &Package> =
            self.packages.iter().map(|p| (p.id.as_str(), p)).collect();
        let mut seen = BTreeSet::new();
        let mut stack = vec![member.id.as_str()];
        while let Some(id) = stack.pop() {
            let Some(node) = nodes.get(id) else { continue };
            for dep in &node.deps {
                let built = dep
                    .dep_kinds
                    .iter()
                    .any(|k| k.kind.as_deref() != Some("dev"));
                if built && seen.insert(dep.pkg.as_str()) {
                    stack.push(dep.pkg.as_str());
                }
            }
        }
        seen.into_iter()
            .filter_map(|id| packages.get(id))
            .map(|p| p.needs())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Metadata;
    use crate::version::RustVersion;

    /// A workspace of `app` (rust-version 1.80) that depends on `lib`, builds with `gen`, and
    /// tests with `dev-only`; `lib` depends on `old` (edition 2021, no rust-version).
    const METADATA: &str = r#"{
        "packages": [
            {"id": "app", "name": "app", "version": "0.1.0", "rust_version": "1.80",
             "edition": "2024", "manifest_path": "/w/app/Cargo.toml"},
            {"id": "lib", "name": "lib", "version": "1.2.3", "rust_version": "1.82.0",
             "edition": "2021", "manifest_path": "/r/lib/Cargo.toml"},
            {"id": "gen", "name": "gen", "version": "0.4.0", "rust_version": null,
             "edition": "2024", "manifest_path": "/r/gen/Cargo.toml"},
            {"id": "old", "name": "old", "version": "0.9.0", "rust_version": null,
             "edition": "2021", "manifest_path": "/r/old/Cargo.toml"},
            {"id": "dev-only", "name": "dev-only", "version": "2.0.0", "rust_version": "1.95",
             "edition": "2024", "manifest_path": "/r/dev/Cargo.toml"}
        ],
        "workspace_members": ["app"],
        "resolve": {"nodes": [
            {"id": "app", "deps": [
                {"pkg": "lib", "dep_kinds": [{"kind": null, "target": null}]},
                {"pkg": "gen", "dep_kinds": [{"kind": "build", "target": null}]},
                {"pkg": "dev-only", "dep_kinds": [{"kind": "dev", "target": null}]}
            ]},
            {"id": "lib", "deps": [{"pkg": "old", "dep_kinds": [{"kind": null, "target": null}]}]},
            {"id": "gen", "deps": []},
            {"id": "old", "deps": []},
            {"id": "dev-only", "deps": []}
        ]}
    }"#;

    #[test]
    fn follows_normal_and_build_dependencies_not_dev_ones() {
        let m: Metadata = serde_json::from_str(METADATA).unwrap();
        let app = m.members().next().unwrap();
        assert_eq!(app.name, "app");
        let deps = m.dependencies(app);
        let names: Vec<(&str, String, bool)> = deps
            .iter()
            .map(|d| (d.name.as_str(), d.rust.to_string(), d.declared))
            .collect();
        assert_eq!(
            names,
            [
                ("gen", "1.85".to_string(), false),
                ("lib", "1.82".to_string(), true),
                ("old", "1.56".to_string(), false),
            ]
        );
        let max = deps.iter().map(|d| d.rust).max().unwrap();
        assert!(max > RustVersion::parse("1.80").unwrap());
    }
}
