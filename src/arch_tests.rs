//! Architecture checks read from the sources at test time: the `use
//! crate::X` graph between top-level modules has no cycle, and the simulator
//! uses nothing of the exporter. Test code (`#[cfg(test)]` modules and
//! `*_tests.rs` files) is left out: tests may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).expect("read src dir");
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The production part of a source file: `//` comments removed, and
/// nothing from the first `#[cfg(test)]` on.
fn production_code(text: &str) -> String {
    let mut code = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        code.push_str(line.split("//").next().unwrap_or(""));
        code.push('\n');
    }
    code
}

/// The top-level modules `code` names as `crate::X` (including each `X` in
/// `crate::{X, Y::Z}`).
fn crate_refs(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut refs = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue; // `$crate::`, `my_crate::`
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of the group: names at brace depth 0.
            let mut depth = 0;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        start = false;
                        refs.insert(ident(&group[j..]));
                    }
                    _ => {}
                }
            }
        } else {
            refs.insert(ident(rest));
        }
    }
    refs.retain(|r| !r.is_empty() && r != "self");
    refs
}

/// Top-level module → the top-level modules its production code uses.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src).expect("under src");
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with("_tests.rs") || name == "tests.rs" {
            continue;
        }
        let first = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or("");
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read source");
        let uses = graph.entry(module.clone()).or_default();
        uses.extend(
            crate_refs(&production_code(&text))
                .into_iter()
                .filter(|m| *m != module),
        );
    }
    graph
}

/// A cycle in `graph`, as the modules along it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    // 0 unvisited, 1 on the stack, 2 done.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        mark: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match mark.get(node).copied().unwrap_or(0) {
            1 => {
                let at = stack.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle = stack[at..].to_vec();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            2 => return None,
            _ => {}
        }
        mark.insert(node.to_string(), 1);
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, mark, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        mark.insert(node.to_string(), 2);
        None
    }
    let mut mark = BTreeMap::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut mark, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn top_level_modules_import_each_other_without_a_cycle() {
    let graph = module_graph(&src_dir());
    assert!(graph.contains_key("pipeline") && graph.contains_key("state"));
    assert!(
        graph["cli"].contains("pipeline"),
        "the graph reader lost the cli → pipeline edge: {graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "import cycle among top-level modules: {}",
            cycle.join(" → ")
        );
    }
}

#[test]
fn the_state_imports_nothing_above_it() {
    let graph = module_graph(&src_dir());
    let above: BTreeSet<&str> = ["cli", "config", "pipeline", "reports"].into();
    let bad: Vec<&String> = graph["state"]
        .iter()
        .filter(|m| above.contains(m.as_str()))
        .collect();
    assert!(bad.is_empty(), "state imports {bad:?}");
}

#[test]
fn the_simulator_uses_nothing_of_the_exporter() {
    let mut files = Vec::new();
    rust_files(&src_dir().join("simulator"), &mut files);
    assert!(!files.is_empty());
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read source");
        let outside: Vec<String> = crate_refs(&production_code(&text))
            .into_iter()
            .filter(|m| m != "simulator")
            .collect();
        assert!(
            outside.is_empty(),
            "{} uses crate::{outside:?}",
            file.display()
        );
    }
}

#[test]
fn the_graph_reader_sees_grouped_imports_and_finds_cycles() {
    let refs = crate_refs("use crate::{a::B, c::{d, e}, self};\nlet x = $crate::z; crate::f::g();");
    assert_eq!(refs, ["a", "c", "f"].map(String::from).into());
    let code =
        production_code("use crate::a; // crate::b\n#[cfg(test)]\nmod tests { use crate::c; }");
    assert_eq!(crate_refs(&code), ["a"].map(String::from).into());
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), ["b".to_string()].into()),
        ("b".to_string(), ["c".to_string()].into()),
        ("c".to_string(), ["a".to_string()].into()),
    ]
    .into();
    assert_eq!(
        find_cycle(&graph),
        Some(["a", "b", "c", "a"].map(String::from).to_vec())
    );
    let acyclic: BTreeMap<String, BTreeSet<String>> =
        [("a".to_string(), ["b".to_string()].into())].into();
    assert_eq!(find_cycle(&acyclic), None);
}
