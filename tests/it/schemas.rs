//! Generated artefacts that must match the code: `schemas/<report>.json`
//! (regenerate with `cargo run -- schemas --write`), the README's table of
//! keys and `config/example.toml` (every config key, no more, no less).

use std::collections::BTreeSet;
use std::path::Path;

use intercom_export::config::{FileConfig, WorkspaceConfig};
use intercom_export::reports::{ReportName, keys};

#[test]
fn schema_files_match_the_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let mut expected = BTreeSet::new();
    for report in ReportName::all() {
        let name = format!("{report}.json");
        let generated = format!(
            "{}\n",
            serde_json::to_string_pretty(&keys::schema_document(report)).expect("json")
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
fn every_schema_states_the_keys_of_its_rows() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    for report in ReportName::all() {
        let text = std::fs::read_to_string(dir.join(format!("{report}.json"))).expect("schema");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
        let names: BTreeSet<&str> = doc["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        for key in ["primary_key", "entity_key"] {
            let cols = doc[key].as_array().expect(key);
            assert!(!cols.is_empty(), "{report}: {key}");
            for c in cols {
                let c = c.as_str().expect("column name");
                assert!(names.contains(c), "{report}: {key} names {c}, not a column");
            }
        }
        let version = doc["version_column"].as_str().expect("version_column");
        assert!(
            names.contains(version),
            "{report}: version_column {version}"
        );
        assert!(doc["foreign_keys"].is_array(), "{report}: foreign_keys");
    }
}

/// The README's table of keys (between its markers) is the one the code
/// declares, and its dedupe queries use those keys.
#[test]
fn readme_keys_match_the_code() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let (begin, end) = ("<!-- keys:begin -->\n", "<!-- keys:end -->");
    let start = readme.find(begin).expect("README has <!-- keys:begin -->") + begin.len();
    let stop = readme[start..]
        .find(end)
        .expect("README has <!-- keys:end -->")
        + start;
    let table = keys::readme_table();
    assert!(
        readme[start..stop] == table,
        "the README's table of keys is out of date; put this between its markers:\n{table}"
    );
    // The current-state query of conversations partitions by its keys.
    let k = keys::keys(ReportName::Conversations);
    let partition = format!(
        "PARTITION BY {} ORDER BY {} DESC",
        k.entity_key.join(", "),
        k.version_column
    );
    assert!(readme.contains(&partition), "README: {partition}");
    // The one-row-per-primary-key step of every report type.
    for report in [
        ReportName::Conversations,
        ReportName::Events,
        ReportName::ConversationTags,
    ] {
        let pk = format!("PARTITION BY {}", keys::keys(report).primary_key.join(", "));
        assert!(readme.contains(&pk), "README dedupe of {report}: {pk}");
    }
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
