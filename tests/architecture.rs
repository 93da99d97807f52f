//! `ARCHITECTURE.md` stays true: every source file is in its code map, and the `use crate::…`
//! edges between the top-level modules of `host/src` are exactly those its dependency table
//! allows (so a back-edge, which would make a cycle, fails here and not in review).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn architecture() -> String {
    std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md")
}

/// The lines of the section headed `heading` (up to the next `## `).
fn section<'a>(text: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|l| l.trim() != heading);
    assert!(lines.next().is_some(), "ARCHITECTURE.md has no `{heading}` section");
    lines.take_while(|l| !l.starts_with("## ")).collect()
}

/// The backticked words of `text`.
fn ticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// Table rows as cells (header and separator rows dropped).
fn rows<'a>(lines: &[&'a str]) -> Vec<Vec<&'a str>> {
    lines
        .iter()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.trim().trim_matches('|').split(" | ").map(str::trim).collect())
        .collect()
}

/// Every `.rs` file under `dir`, relative to the repository root; unit tests (`tests.rs`) left out.
fn sources(dir: &str, out: &mut Vec<String>) {
    let mut stack = vec![root().join(dir)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "target") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "rs") && p.file_name().is_some_and(|n| n != "tests.rs") {
                let rel = p.strip_prefix(root()).expect("under the root").to_string_lossy().replace('\\', "/");
                out.push(rel);
            }
        }
    }
}

/// The paths a code-map row names in its first cell: a name without a `/` is beside the first.
fn row_paths(cell: &str) -> Vec<String> {
    let names = ticked(cell);
    let base = names.first().map_or("", |first| first.rfind('/').map_or("", |i| &first[..=i]));
    let names = names.iter().map(|n| n.trim_end_matches('*'));
    names.map(|n| if n.contains('/') { n.to_owned() } else { format!("{base}{n}") }).collect()
}

/// Whether `file` is in the code map: named by a row, or named (by its path inside the folder,
/// or by its file name) in the row of a folder that holds it. A folder's `mod.rs`, and every
/// file of a crate the map describes as a whole (`fuzz/`, the example and hostile guests), is
/// covered by the folder's row.
fn covered(file: &str, map: &[Vec<&str>]) -> bool {
    let whole_crates = ["fuzz/", "guests/team-owner", "guests/exe-allowlist", "guests/hostile/"];
    map.iter().any(|row| {
        row_paths(row[0]).iter().any(|path| {
            if path == file {
                return true;
            }
            let Some(inner) = path.ends_with('/').then(|| file.strip_prefix(path.as_str())).flatten() else {
                return whole_crates.iter().any(|c| path.starts_with(c) && file.starts_with(path.as_str()));
            };
            let name = inner.rsplit('/').next().unwrap_or(inner);
            let text = row.join(" | ");
            let named = ticked(&text).iter().any(|t| *t == inner || *t == name);
            named || inner == "mod.rs" || whole_crates.iter().any(|c| path.starts_with(c))
        })
    })
}

#[test]
fn every_source_file_is_in_the_code_map() {
    let text = architecture();
    let map = rows(&section(&text, "## Code map"));
    let mut files = Vec::new();
    for dir in [
        "host/src",
        "host/benches",
        "host/examples",
        "host/build.rs",
        "tests",
        "xtask/src",
        "guests",
        "guest-build/src",
        "fuzz/fuzz_targets",
    ] {
        if dir.ends_with(".rs") {
            files.push(dir.to_owned());
        } else {
            sources(dir, &mut files);
        }
    }
    assert!(files.len() > 50, "found only {} source files: is the walk broken?", files.len());
    let missing: Vec<&String> = files.iter().filter(|f| !covered(f, &map)).collect();
    assert!(missing.is_empty(), "ARCHITECTURE.md's code map does not name: {missing:#?}");
}

/// A top-level module of `host/src` and the top-level modules its shipped code names through
/// `crate::`; a capitalised name is one of `lib.rs`'s re-exports, resolved to its module.
fn edges() -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join("host/src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let mut reexports = BTreeMap::new();
    for line in lib.lines().filter_map(|l| l.strip_prefix("pub use ")) {
        let Some((module, names)) = line.split_once("::") else { continue };
        for name in names.trim_end_matches(';').trim_matches(['{', '}']).split(',') {
            reexports.insert(name.trim().to_owned(), module.to_owned());
        }
    }
    let mut files = Vec::new();
    sources("host/src", &mut files);
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let inner = file.trim_start_matches("host/src/");
        let module = inner.split('/').next().unwrap_or(inner).trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(root().join(file)).expect("source");
        let used = out.entry(module.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let word: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            let target = if word.starts_with(char::is_uppercase) {
                reexports.get(&word).cloned().unwrap_or_else(|| panic!("{file}: crate::{word} is not a re-export"))
            } else {
                word
            };
            assert!(!target.is_empty(), "{file}: `crate::` followed by a group; name each module");
            if target != module {
                used.insert(target);
            }
        }
    }
    out
}

#[test]
fn module_dependencies_are_the_allowed_ones() {
    let text = architecture();
    let mut allowed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in rows(&section(&text, "## Module dependencies")) {
        let uses: BTreeSet<String> = ticked(row[1]).iter().map(|s| (*s).to_owned()).collect();
        for module in ticked(row[0]) {
            allowed.insert(module.to_owned(), uses.clone());
        }
    }
    let actual = edges();
    let mut problems = Vec::new();
    for (module, uses) in &actual {
        let Some(may) = allowed.get(module) else {
            problems.push(format!("`{module}` is not in the dependency table"));
            continue;
        };
        for u in uses.difference(may) {
            problems.push(format!("`{module}` uses `{u}`, which the table does not allow"));
        }
        for u in may.difference(uses) {
            problems.push(format!("`{module}` may use `{u}` but does not: drop it from the table"));
        }
    }
    for module in allowed.keys().filter(|m| !actual.contains_key(*m)) {
        problems.push(format!("the table lists `{module}`, which is not a module of host/src"));
    }
    assert!(problems.is_empty(), "ARCHITECTURE.md's dependency table is out of date:\n{}", problems.join("\n"));
}

#[test]
fn the_allowed_dependencies_have_no_cycle() {
    let text = architecture();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in rows(&section(&text, "## Module dependencies")) {
        for module in ticked(row[0]) {
            graph.insert(module.to_owned(), ticked(row[1]).iter().map(|s| (*s).to_owned()).collect());
        }
    }
    // Kahn: repeatedly remove modules that use nothing left; what remains lies on a cycle.
    let mut left = graph.clone();
    loop {
        let leaves: Vec<String> = left
            .iter()
            .filter(|(_, uses)| uses.iter().all(|u| !left.contains_key(u)))
            .map(|(m, _)| m.clone())
            .collect();
        if leaves.is_empty() {
            break;
        }
        for l in leaves {
            left.remove(&l);
        }
    }
    assert!(left.is_empty(), "these modules depend on each other in a cycle: {:?}", left.keys().collect::<Vec<_>>());
}

/// `workload::sample` serves tests, benchmarks and examples only: no other shipped file of
/// `host/src` names it (unit tests, in `tests.rs`, may).
#[test]
fn sample_workloads_stay_out_of_shipped_code() {
    let mut files = Vec::new();
    sources("host/src", &mut files);
    let own = ["host/src/workload/mod.rs", "host/src/workload/sample.rs"];
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut users = Vec::new();
    for file in files.iter().filter(|f| !own.contains(&f.as_str())) {
        let text = std::fs::read_to_string(root().join(file)).expect("source");
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with("//")) {
            let named = line
                .match_indices("sample")
                .any(|(i, w)| !line[..i].ends_with(is_ident) && !line[i + w.len()..].starts_with(is_ident));
            if named {
                users.push(format!("{file}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(users.is_empty(), "shipped code names `sample` (sample facts are for tests only):\n{}", users.join("\n"));
}
