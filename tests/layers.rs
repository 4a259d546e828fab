//! The module layering of `src/` (docs/architecture.md), checked: each module refers only to
//! modules below it in [`LAYERS`], so no import can point up and no cycle can form. The model and
//! the input (crates/core) and the verifier (crates/verify) are crates below: Cargo keeps them
//! from reaching up, and every module here may use them. Test code
//! (`#[cfg(test)]` modules at the end of a file, `tests.rs`, `test_data.rs`, the hostile peer of
//! `hostile/`) may reach anywhere.

use std::collections::BTreeSet;
use std::path::Path;

/// The modules from the bottom up, by layer. A module may use the modules of lower layers, and
/// those before it in its own layer.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "core (crates/core)",
        &[
            "time", "keys", "redact", "shown", "scope", "job", "manifest", "input",
        ],
    ),
    ("verifier (crates/verify)", &["verify"]),
    ("bottom", &["aws_error", "retry", "tls"]),
    ("adapters", &["fauna", "store"]),
    ("engine", &["copy"]),
    (
        "orchestration",
        &["config", "error", "clients", "metrics", "step", "backfill"],
    ),
    ("entry points", &["lambda", "cli"]),
];

/// The top-level module a path under `src/` belongs to (`src/step/copy.rs` → `step`).
fn module_of(path: &Path, src: &Path) -> Option<String> {
    let rel = path.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_owned())
}

/// The code of a file without its comments and its trailing `#[cfg(test)]` module.
fn production_code(text: &str) -> String {
    let end = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    text[..end]
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn modules_only_use_modules_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let order: Vec<&str> = LAYERS.iter().flat_map(|(_, m)| m.iter().copied()).collect();
    let rank = |m: &str| order.iter().position(|o| *o == m);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeSet<(String, String)> = BTreeSet::new();
    let mut seen_modules = BTreeSet::new();
    for path in &files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let Some(module) = module_of(path, &src) else {
            continue;
        };
        if ["lib", "main", "bin", "test_data", "hostile"].contains(&module.as_str())
            || name == "tests.rs"
        {
            continue;
        }
        seen_modules.insert(module.clone());
        let code = production_code(&std::fs::read_to_string(path).expect("read"));
        for (i, _) in code.match_indices("crate::") {
            let used: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if used != module && rank(&used).is_some() {
                edges.insert((module.clone(), used));
            }
        }
    }
    for module in &seen_modules {
        assert!(
            rank(module).is_some(),
            "src module `{module}` is in no layer: add it to LAYERS and docs/architecture.md"
        );
    }
    let upward: Vec<String> = edges
        .iter()
        .filter(|(from, to)| rank(to) >= rank(from))
        .map(|(from, to)| format!("{from} -> {to}"))
        .collect();
    assert!(upward.is_empty(), "imports that point up: {upward:?}");
    // The graph, for the record: `cargo test --test integration layers:: -- --nocapture`.
    for (from, to) in &edges {
        println!("{from} -> {to}");
    }
}
