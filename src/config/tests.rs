//! Tests of the config: unknown keys, environment and flag layering,
//! workspace blocks, rejected values.

use super::*;
use std::path::PathBuf;

use crate::output::Format;
use crate::reports::ReportName;

#[test]
fn regions_are_read_in_any_case_and_a_bad_one_names_its_source() {
    // The trial: `region = "EU"` and INTERCOM_REGION=europe were both
    // refused, the second with "unknown variant `europe` ... in `region`".
    let c = FileConfig::parse("region = \"EU\"\n").expect("EU");
    assert_eq!(c.region, Some(Region::Eu));
    let env = |v: &str| [("INTERCOM_REGION".to_string(), v.to_string())];
    let c = FileConfig::load(None, env("Au")).expect("Au");
    assert_eq!(c.region, Some(Region::Au));
    let err = FileConfig::load(None, env("europe"))
        .expect_err("europe")
        .to_string();
    assert!(
        err.contains("INTERCOM_REGION=europe") && err.contains("us, eu or au"),
        "{err}"
    );
    let err = FileConfig::parse("region = \"europe\"\n")
        .expect_err("europe")
        .to_string();
    assert!(
        err.contains("region") && err.contains("us, eu or au"),
        "{err}"
    );
}

#[test]
fn unknown_keys_are_named_with_the_nearest_valid_one() {
    let err = FileConfig::parse("output_dri = \"x\"\n")
        .expect_err("unknown key")
        .to_string();
    assert!(
        err.contains("`output_dri`") && err.contains("did you mean `output_dir`"),
        "{err}"
    );
}

#[test]
fn every_unknown_key_is_named_in_one_error() {
    // The trial: two typos, and only the first was named.
    let err = FileConfig::parse("output_dri = \"x\"\nconcurency = 4\n")
        .expect_err("unknown keys")
        .to_string();
    assert!(
        err.contains("`output_dri` (did you mean `output_dir`?)")
            && err.contains("`concurency` (did you mean `concurrency`?)"),
        "{err}"
    );
    assert!(err.contains("2 unknown config keys"), "{err}");
    // In a workspace block too, named with its block, in the same error.
    let err = FileConfig::parse(
        "page_sise = 10\n[[workspace]]\nname = \"a\"\ntoken_evn = \"X\"\nzzz = 1\n",
    )
    .expect_err("unknown keys")
    .to_string();
    assert!(err.contains("3 unknown config keys"), "{err}");
    assert!(
        err.contains("`page_sise` (did you mean `page_size`?)"),
        "{err}"
    );
    assert!(
        err.contains("`token_evn` in [[workspace]] `a` (did you mean `token_env`?)"),
        "{err}"
    );
    assert!(err.contains("`zzz` in [[workspace]] `a`."), "{err}");
    assert!(err.contains("Valid in a [[workspace]] block: "), "{err}");
    // The exit code stays the one of a usage error.
    let e = FileConfig::parse("a_b_c = 1\nd_e_f = 2\n").expect_err("unknown");
    assert_eq!(e.kind(), crate::error::ErrorKind::User);
}

#[test]
fn numbers_of_the_wrong_type_name_the_variable_the_value_and_the_range() {
    let load = |name: &str, value: &str| {
        FileConfig::load(None, [(name.to_string(), value.to_string())])
            .expect_err("not a number")
            .to_string()
    };
    let err = load("INTERCOM_CONCURRENCY", "abc");
    assert!(
        err.contains("INTERCOM_CONCURRENCY=abc is not a number; use 1 to 256"),
        "{err}"
    );
    assert!(!err.contains("invalid type"), "no serde jargon: {err}");
    let err = load("INTERCOM_PAGE_SIZE", "-5");
    assert!(
        err.contains("INTERCOM_PAGE_SIZE=-5 is out of range; use 1 to 150"),
        "{err}"
    );
    let err = load("INTERCOM_CHECKPOINT_SECS", "1m");
    assert!(
        err.contains("INTERCOM_CHECKPOINT_SECS=1m is not a number"),
        "{err}"
    );
    // The same in the file, and in a workspace block.
    let err = FileConfig::parse("concurrency = \"abc\"\n")
        .expect_err("not a number")
        .to_string();
    assert!(
        err.contains("concurrency = \"abc\" is not a whole number; use 1 to 256"),
        "{err}"
    );
    let err =
        FileConfig::parse("[[workspace]]\nname = \"a\"\ntoken_env = \"X\"\nlookback_secs = -1\n")
            .expect_err("negative")
            .to_string();
    assert!(
        err.contains("in [[workspace]] `a`: lookback_secs = -1 is out of range"),
        "{err}"
    );
    // The ranges said are the ones checked.
    assert_eq!(
        super::file::number_hint("concurrency"),
        Some(format!("1 to {}", defaults::MAX_CONCURRENCY).as_str())
    );
    assert_eq!(
        super::file::number_hint("max_parallel_workspaces"),
        Some(format!("1 to {}", defaults::MAX_PARALLEL_WORKSPACES_CAP).as_str())
    );
    // A number still loads.
    let c = FileConfig::load(None, [("INTERCOM_CONCURRENCY".into(), " 12 ".into())]).expect("12");
    assert_eq!(c.concurrency, Some(12));
}

#[test]
fn environment_overrides_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "output_dir = \"file\"\npage_size = 100\n").expect("write");
    let env = [
        ("INTERCOM_OUTPUT_DIR", "env"),
        ("INTERCOM_REPORTS", "users, leads"),
        ("INTERCOM_PAGE_SIZE", "50"),
        ("INTERCOM_VERSION", "2.11"),
        ("INTERCOM_ACCESS_TOKEN", "secret"),
        ("INTERCOM_SOMETHING_ELSE", "x"),
        ("HOME", "/root"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let c = FileConfig::load(Some(&path), env).expect("load");
    assert_eq!(c.output_dir, Some(PathBuf::from("env")));
    assert_eq!(
        c.reports,
        Some(vec!["users".to_string(), "leads".to_string()])
    );
    assert_eq!(c.page_size, Some(50));
    assert_eq!(c.intercom_version.as_deref(), Some("2.11"));
}

#[test]
fn flags_override_the_file_and_defaults_apply() {
    let file =
        FileConfig::parse("region = \"eu\"\noutput_dir = \"from-file\"\nreports = [\"users\"]\n")
            .expect("parse");
    let s = Settings::resolve(
        file,
        Overrides {
            output_dir: Some("from-flag".into()),
            ..Overrides::default()
        },
    )
    .expect("resolve");
    assert_eq!(s.base_url.as_str(), "https://api.eu.intercom.io/");
    assert_eq!(s.output_dir, PathBuf::from("from-flag"));
    assert_eq!(s.reports, vec![ReportName::Users]);
    assert_eq!(s.formats, vec![Format::Parquet]);
    assert_eq!(s.page_size, 150);
    assert_eq!(s.intercom_version, "2.16");
}

#[test]
fn workspace_blocks_layer_over_the_top_level() {
    let file = FileConfig::parse(
        "output_dir = \"out\"\nreports = [\"users\"]\npage_size = 100\n\
         [options.conversations]\nstate = \"open\"\n\
         [[workspace]]\nname = \"a\"\ntoken_env = \"TOKEN_A\"\nregion = \"eu\"\n\
         [[workspace]]\nname = \"b\"\ntoken_file = \"/t\"\noutput = \"/data/b\"\n\
         reports = [\"leads\"]\n",
    )
    .expect("parse");
    let all = Settings::resolve_all(file.clone(), Overrides::default(), &[]).expect("resolve");
    assert_eq!(all.len(), 2);
    let (a, b) = (&all[0], &all[1]);
    assert_eq!((a.workspace.as_str(), b.workspace.as_str()), ("a", "b"));
    assert_eq!(a.output_dir, PathBuf::from("out/a"));
    assert_eq!(b.output_dir, PathBuf::from("/data/b"));
    assert_eq!(a.base_url.as_str(), "https://api.eu.intercom.io/");
    assert_eq!(b.base_url.as_str(), "https://api.intercom.io/");
    assert_eq!(a.reports, vec![ReportName::Users]);
    assert_eq!(b.reports, vec![ReportName::Leads]);
    assert_eq!((a.page_size, b.page_size), (100, 100));
    assert!(a.report_options.contains_key(&ReportName::Conversations));
    let err = a.token().expect_err("TOKEN_A is unset").to_string();
    assert!(err.contains("TOKEN_A") && err.contains("`a`"), "{err}");
    // --workspace picks; unknown names are listed.
    let only_b =
        Settings::resolve_all(file.clone(), Overrides::default(), &["b".into()]).expect("resolve");
    assert_eq!(only_b.len(), 1);
    let err = Settings::resolve_all(file, Overrides::default(), &["c".into()])
        .expect_err("no such workspace")
        .to_string();
    assert!(err.contains("a, b"), "{err}");
    // Without blocks: one unnamed workspace, as before.
    let plain =
        Settings::resolve_all(FileConfig::default(), Overrides::default(), &[]).expect("resolve");
    assert_eq!(plain.len(), 1);
    assert_eq!(plain[0].workspace, "");
    assert_eq!(plain[0].output_dir, PathBuf::from(defaults::OUTPUT_DIR));
}

#[test]
fn bad_workspace_blocks_are_named() {
    let e = |toml: &str| match FileConfig::parse(toml) {
        Err(e) => e.to_string(),
        Ok(f) => Settings::resolve_all(f, Overrides::default(), &[])
            .expect_err("invalid")
            .to_string(),
    };
    let err = e("[[workspace]]\nname = \"a\"\ntoken_evn = \"X\"\n");
    assert!(err.contains("did you mean `token_env`"), "{err}");
    let no_token = e("[[workspace]]\nname = \"a\"\n");
    assert!(
        no_token.contains("has no token") && !no_token.contains("  "),
        "one space between words: {no_token}"
    );
    // Two blocks writing to one directory would mix their files.
    let shared = e(
        "[[workspace]]\nname = \"a\"\ntoken_env = \"X\"\noutput = \"out/x\"\n\
                    [[workspace]]\nname = \"b\"\ntoken_env = \"Y\"\noutput = \"out/x\"\n",
    );
    assert!(
        shared.contains("`a` and `b` both write to out/x") && shared.contains("its own `output`"),
        "{shared}"
    );
    // …also when one's `output` is the other's default `<output_dir>/<name>`.
    let shared = e(
        "output_dir = \"o\"\n[[workspace]]\nname = \"a\"\ntoken_env = \"X\"\n\
                    [[workspace]]\nname = \"b\"\ntoken_env = \"Y\"\noutput = \"o/a\"\n",
    );
    assert!(shared.contains("both write to o/a"), "{shared}");
    // …and when the two spellings differ but name one directory.
    let cwd = std::env::current_dir().expect("cwd");
    for (x, y) in [
        ("shared".to_string(), "./shared/".to_string()),
        (cwd.join("s2").display().to_string(), "s2".to_string()),
        ("s3://b/raw".to_string(), "s3://b/raw/".to_string()),
    ] {
        let toml = format!(
            "[[workspace]]\nname = \"a\"\ntoken_env = \"X\"\noutput = \"{x}\"\n\
             [[workspace]]\nname = \"b\"\ntoken_env = \"Y\"\noutput = \"{y}\"\n"
        );
        assert!(e(&toml).contains("both write to"), "{x} and {y}");
    }
    // Different places are fine.
    let apart = FileConfig::parse(
        "[[workspace]]\nname = \"a\"\ntoken_env = \"X\"\noutput = \"s3://b/a\"\n\
         [[workspace]]\nname = \"b\"\ntoken_env = \"Y\"\noutput = \"s3://b/ab\"\n",
    )
    .expect("parse");
    assert_eq!(
        Settings::resolve_all(apart, Overrides::default(), &[])
            .expect("apart")
            .len(),
        2
    );
    assert!(e("[[workspace]]\nname = \"a/b\"\ntoken_env = \"X\"\n").contains("not allowed"));
    let twice = "[[workspace]]\nname = \"a\"\ntoken_env = \"X\"\n";
    assert!(e(&format!("{twice}{twice}")).contains("unique"));
    assert!(
        e("[[workspace]]\nname = \"a\"\ntoken_env = \"X\"\npage_size = 5\n")
            .contains("unknown config key `page_size`")
    );
}

#[test]
fn bad_values_are_rejected_with_the_reason() {
    let e = |toml: &str| {
        Settings::resolve(
            FileConfig::parse(toml).expect("parse"),
            Overrides::default(),
        )
        .expect_err("invalid")
        .to_string()
    };
    assert!(e("page_size = 500").contains("1 to 150"));
    assert!(e("concurrency = 0").contains("1 to 256"));
    assert!(e("concurrency = 257").contains("1 to 256"));
    assert!(e("max_parallel_workspaces = 0").contains("1 (one workspace after another) to 256"));
    assert!(e("max_parallel_workspaces = 257").contains("out of range"));
    assert!(e("max_requests_per_minute = 0").contains("at least 1"));
    assert!(e("base_url = \"http://example.com\"").contains("plain http"));
    assert!(e("reports = [\"nope\"]").contains("valid reports are"));
    assert!(e("reports = [\"\"]").contains("names no report"));
}

#[test]
fn a_misspelled_report_or_environment_key_gets_the_nearest_name() {
    let e = Settings::resolve(
        FileConfig::parse("reports = [\"user\"]").expect("parse"),
        Overrides::default(),
    )
    .expect_err("invalid")
    .to_string();
    assert!(e.contains("did you mean \"users\"?"), "{e}");
    // Far from every name: no guess.
    let e = Settings::resolve(
        FileConfig::parse("reports = [\"xyzzy\"]").expect("parse"),
        Overrides::default(),
    )
    .expect_err("invalid")
    .to_string();
    assert!(!e.contains("did you mean"), "{e}");

    let keys = FileConfig::keys();
    let known = env::known_variables(&keys);
    for (typo, meant) in [
        ("INTERCOM_OUTPT_DIR", "INTERCOM_OUTPUT_DIR"),
        ("INTERCOM_OUTPUT", "INTERCOM_OUTPUT_DIR"),
        ("INTERCOM_REPORT", "INTERCOM_REPORTS"),
        // A token's variable (the third trial: INTERCOM_TOKEN was pointed
        // at INTERCOM_TOKEN_FILE, and the token then printed as a path).
        ("INTERCOM_TOKEN", "INTERCOM_ACCESS_TOKEN"),
        ("INTERCOM_API_TOKEN", "INTERCOM_ACCESS_TOKEN"),
        ("INTERCOM_ACCESS_TOKN", "INTERCOM_ACCESS_TOKEN"),
        ("INTERCOM_TOKEN_FIL", "INTERCOM_ACCESS_TOKEN"),
        // Read by `main` before logging, not a config key, but known.
        ("INTERCOM_LOG_FORMT", "INTERCOM_LOG_FORMAT"),
    ] {
        assert_eq!(
            env::closest_variable(typo, &known).map(String::as_str),
            Some(meant),
            "{typo}"
        );
    }
    // Close to no known name: no guess (the trial: INTERCOM_FOO_BAR was
    // asked "did you mean INTERCOM_FORMATS?").
    for far in ["INTERCOM_FOO_BAR", "INTERCOM_X", "INTERCOM_DATABASE_URL"] {
        assert_eq!(env::closest_variable(far, &known), None, "{far}");
    }
    assert!(known.contains(&"INTERCOM_VERSION".to_string()));
    assert!(!known.contains(&"INTERCOM_OPTIONS".to_string()));
}

#[test]
fn max_parallel_workspaces_is_a_top_level_key_with_a_default_and_an_env_variable() {
    let blocks = "[[workspace]]\nname = \"a\"\ntoken_env = \"A\"\n\
                  [[workspace]]\nname = \"b\"\ntoken_env = \"B\"\n";
    let all = Settings::resolve_all(
        FileConfig::parse(blocks).expect("parse"),
        Overrides::default(),
        &[],
    )
    .expect("resolve");
    assert_eq!(
        all.iter()
            .map(|s| s.max_parallel_workspaces)
            .collect::<Vec<_>>(),
        [defaults::MAX_PARALLEL_WORKSPACES; 2]
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, format!("max_parallel_workspaces = 3\n{blocks}")).expect("write");
    let from_file = FileConfig::load(Some(&path), []).expect("load");
    let all = Settings::resolve_all(from_file, Overrides::default(), &[]).expect("resolve");
    assert!(all.iter().all(|s| s.max_parallel_workspaces == 3));
    let env =
        [("INTERCOM_MAX_PARALLEL_WORKSPACES", "1")].map(|(k, v)| (k.to_string(), v.to_string()));
    let from_env = FileConfig::load(Some(&path), env).expect("load");
    let all = Settings::resolve_all(from_env, Overrides::default(), &[]).expect("resolve");
    assert!(
        all.iter().all(|s| s.max_parallel_workspaces == 1),
        "the environment wins"
    );
    // Out of range: named as the top-level key, not as the first block's.
    let err = Settings::resolve_all(
        FileConfig::parse(&format!("max_parallel_workspaces = 0\n{blocks}")).expect("parse"),
        Overrides::default(),
        &[],
    )
    .expect_err("0 is refused")
    .to_string();
    assert!(
        err.starts_with("configuration error: max_parallel_workspaces = 0"),
        "{err}"
    );
    // Not a key of a block.
    let err = FileConfig::parse("[[workspace]]\nname = \"a\"\nmax_parallel_workspaces = 2\n")
        .expect_err("top level only")
        .to_string();
    assert!(
        err.contains("unknown config key `max_parallel_workspaces`"),
        "{err}"
    );
}

/// Precedence of the report lists through the real layering: a
/// `[[workspace]]` block's `reports` wins over the top level's
/// `exclude_reports` (the block is the more specific), which still applies
/// to the blocks that name no reports; `--reports` wins over the file's
/// exclusion and `--exclude-reports` over the file's `reports`.
#[test]
fn the_stronger_report_list_wins_through_files_blocks_and_flags() {
    let name = |s: &str| s.parse::<crate::reports::ReportName>().expect("report");
    let text = "exclude_reports = [\"teams\"]\n\
                [[workspace]]\nname = \"a\"\ntoken_env = \"A\"\nreports = [\"admins\", \"teams\"]\n\
                [[workspace]]\nname = \"b\"\ntoken_env = \"B\"\n";
    let all = Settings::resolve_all(
        FileConfig::parse(text).expect("parse"),
        Overrides::default(),
        &[],
    )
    .expect("valid");
    assert!(all[0].reports.len() == 2 && all[0].reports.contains(&name("teams")));
    assert!(!all[1].reports.contains(&name("teams")));
    assert!(all[1].reports.contains(&name("admins")));

    let file = "reports = [\"admins\", \"tags\"]\nexclude_reports = [\"teams\"]\n";
    let flags = Overrides {
        reports: vec!["teams".into(), "tags".into()],
        ..Overrides::default()
    };
    let s = Settings::resolve(FileConfig::parse(file).expect("parse"), flags).expect("valid");
    assert!(s.reports.len() == 2 && s.reports.contains(&name("teams")));
    let flags = Overrides {
        exclude_reports: vec!["tags".into()],
        ..Overrides::default()
    };
    let s = Settings::resolve(FileConfig::parse(file).expect("parse"), flags).expect("valid");
    assert_eq!(s.reports, vec![name("admins")]);
}
