//! Generated artefacts that must match the code: `schemas/<report>.json`
//! (regenerate with `cargo run -- schemas --write`) and `config/example.toml`
//! (every config key, no more, no less).

use std::collections::BTreeSet;
use std::path::Path;

use intercom_export::config::{FileConfig, WorkspaceConfig};
use intercom_export::output::schema::schema_document;
use intercom_export::reports::ReportName;

#[test]
fn schema_files_match_the_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let mut expected = BTreeSet::new();
    for report in ReportName::all() {
        let name = format!("{report}.json");
        let generated = format!(
            "{}\n",
            serde_json::to_string_pretty(&schema_document(report.as_str(), report.columns()))
                .expect("json")
        );
        let on_disk = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
        assert!(
            on_disk == generated,
            "schemas/{name} is out of date: run `cargo run -- schemas --write`"
        );
        expected.insert(name);
    }
    let present: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("schemas dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        present, expected,
        "schemas/ holds exactly one file per report"
    );
}

#[test]
fn example_config_documents_every_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
    let text = std::fs::read_to_string(&path).expect("config/example.toml");
    // Optional keys without a default are shown commented as `#key = value`,
    // and the optional `[[workspace]]` block as `#[[workspace]]` / `#[workspace.…]`.
    let uncommented: String = text
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest)
                if rest.starts_with(|c: char| c.is_ascii_lowercase()) && rest.contains(" = ") =>
            {
                rest
            }
            Some(rest) if rest.starts_with("[[workspace]]") || rest.starts_with("[workspace.") => {
                rest
            }
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let parsed = FileConfig::parse(&uncommented).expect("example.toml is a valid config");
    let table: toml::Table = toml::from_str(&uncommented).expect("toml");
    let in_example: BTreeSet<String> = table.keys().cloned().collect();
    let value = serde_json::to_value(&parsed).expect("serialize");
    let in_struct: BTreeSet<String> = value.as_object().expect("object").keys().cloned().collect();
    assert_eq!(
        in_example, in_struct,
        "config/example.toml keys == FileConfig fields"
    );
    // Every key of a [[workspace]] block is shown in its example.
    let block = table["workspace"][0]
        .as_table()
        .expect("a [[workspace]] example");
    let in_block: BTreeSet<String> = block.keys().cloned().collect();
    let in_ws_struct: BTreeSet<String> = WorkspaceConfig::keys().into_iter().collect();
    assert_eq!(
        in_block, in_ws_struct,
        "config/example.toml [[workspace]] keys == WorkspaceConfig fields"
    );
    // And the file as shipped (comments as comments) is valid too.
    FileConfig::parse(&text).expect("example.toml parses as shipped");
}

/// Docker does not run on CI machines, so this checks the one thing that
/// broke its build before: every directory the manifest's targets (and the
/// crate's `include_*!`/`migrate!` sources) live in is copied into the build
/// stage.
#[test]
fn dockerfile_copies_every_directory_the_manifest_needs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).expect("Dockerfile");
    let copied: BTreeSet<String> = dockerfile
        .lines()
        .filter_map(|l| l.trim().strip_prefix("COPY "))
        .filter(|l| !l.starts_with("--from"))
        .flat_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words[..words.len().saturating_sub(1)]
                .iter()
                .map(|w| w.trim_end_matches('/').to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let manifest: toml::Table = std::fs::read_to_string(root.join("Cargo.toml"))
        .expect("Cargo.toml")
        .parse()
        .expect("manifest");
    let mut needed = BTreeSet::from(["Cargo.toml".to_string(), "Cargo.lock".to_string()]);
    for kind in ["lib", "bin", "test", "bench"] {
        let targets = match manifest.get(kind) {
            Some(toml::Value::Array(a)) => a.clone(),
            Some(t @ toml::Value::Table(_)) => vec![t.clone()],
            _ => Vec::new(),
        };
        for t in targets {
            let path = match t.get("path").and_then(toml::Value::as_str) {
                Some(p) => p.to_string(),
                // Cargo's default places.
                None => match kind {
                    "bench" => "benches".to_string(),
                    "test" => "tests".to_string(),
                    _ => "src".to_string(),
                },
            };
            let top = path.split('/').next().expect("top dir").to_string();
            needed.insert(top);
        }
    }
    let missing: Vec<&String> = needed.difference(&copied).collect();
    assert!(
        missing.is_empty(),
        "the Dockerfile's build stage does not COPY {missing:?} (copied: {copied:?})"
    );
}
