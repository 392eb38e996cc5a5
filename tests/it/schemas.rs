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
