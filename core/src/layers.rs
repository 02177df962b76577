// SPDX-License-Identifier: Apache-2.0
//! The layering rule of docs/adr/0005-layers.md as a test: every `crate::` path in a module's
//! code names the module itself or a layer below it. Test code (`tests.rs` files and trailing
//! `#[cfg(test)] mod tests` blocks) may use the whole crate; comments are not code.

use std::path::{Path, PathBuf};

/// Each top-level module and the modules it may use. The order is the layering.
const LAYERS: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("value", &["error"]),
    ("storage", &["error", "value"]),
    ("db", &["error", "value"]),
    ("database", &["error", "value", "storage", "db"]),
    ("client", &["error", "value", "storage", "db", "database"]),
];

/// Names re-exported at the crate root, and the module each comes from.
const ROOT_EXPORTS: &[(&str, &str)] = &[
    ("Error", "error"),
    ("ErrorKind", "error"),
    ("Result", "error"),
    ("Value", "value"),
    ("Row", "value"),
    ("param_sets_from_json", "value"),
    ("schema", "storage"),
    ("ExecuteResult", "db"),
    ("OpenOptions", "db"),
    ("TableListener", "db"),
    ("TableListenerHandle", "db"),
    ("Transaction", "db"),
    ("Database", "database"),
];

/// The top-level module a `crate::<name>` path points into.
fn module_of(name: &str) -> Option<&'static str> {
    LAYERS
        .iter()
        .map(|(module, _)| *module)
        .find(|module| *module == name)
        .or_else(|| {
            ROOT_EXPORTS
                .iter()
                .find(|(export, _)| *export == name)
                .map(|(_, module)| *module)
        })
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The `crate::<name>` references in the non-test code of `text`, with their line numbers; a
/// group `crate::{a, b::c}` yields `a` and `b`.
fn crate_references(text: &str) -> Vec<(usize, String)> {
    let code = text
        .split("#[cfg(test)]\nmod tests {")
        .next()
        .unwrap_or(text);
    let code: String = code
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            for item in top_level_items(group) {
                let name = identifier(item.trim_start());
                if !name.is_empty() {
                    found.push((line_of(at), name));
                }
            }
        } else {
            found.push((line_of(at), identifier(rest)));
        }
    }
    found
}

/// The comma-separated items of a `{...}` group (starting after its `{`), nested groups kept
/// whole.
fn top_level_items(group: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items
}

fn identifier(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

#[test]
fn every_module_uses_only_its_own_layer_and_those_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let top = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|c| c.trim_end_matches(".rs"))
            .expect("file name");
        let Some((_, allowed)) = LAYERS.iter().find(|(module, _)| *module == top) else {
            continue; // lib.rs (the facade), bin/ (uses the public API), this file
        };
        if relative.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("read source");
        for (line, name) in crate_references(&text) {
            checked += 1;
            match module_of(&name) {
                Some(target) if target == top || allowed.contains(&target) => {}
                Some(target) => violations.push(format!(
                    "{}:{line}: `crate::{name}` ({target}) is above {top}",
                    relative.display()
                )),
                None => violations.push(format!(
                    "{}:{line}: `crate::{name}` is in no layer (add it to LAYERS or ROOT_EXPORTS)",
                    relative.display()
                )),
            }
        }
    }
    assert!(
        checked > 100,
        "found only {checked} crate paths: is the scan broken?"
    );
    assert!(
        violations.is_empty(),
        "upward edges:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_scan_sees_paths_and_skips_comments_and_tests() {
    let text = "use crate::db::Pool;\n// crate::client in a comment\nlet x = crate::Value::Null;\n\
                use crate::{\n    Error,\n    storage::gate::{self, x},\n};\n\
                #[cfg(test)]\nmod tests {\n use crate::client;\n}\n";
    let found = crate_references(text);
    let names: Vec<&str> = found.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["db", "Value", "Error", "storage"]);
    assert_eq!(found[3].0, 4, "line of the group");
}
