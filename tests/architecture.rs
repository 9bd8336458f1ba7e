//! The crate's layout: dependencies among the top-level modules of `src/` point one way,
//! and functions stay short enough to read.
//!
//! Reads every `.rs` file under `src/`, drops comments, string literals and
//! `#[cfg(test)]` items, and collects each `crate::` path (`use crate::{a, b::c}` groups
//! included). Module A depends on B when a file of A names `crate::B`. The test fails,
//! naming each cycle, when the graph has one.
//!
//! The same reader (which keeps line breaks) measures functions from `fn` to the closing
//! brace of their body: at most [`SRC_FN_LINES`] in the code of `src/`, at most
//! [`TEST_FN_LINES`] in its `#[cfg(test)]` modules and in `tests/`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The longest function allowed in `src/` outside tests, in lines.
const SRC_FN_LINES: usize = 80;
/// The longest test function (or test helper) allowed, in lines.
const TEST_FN_LINES: usize = 120;

#[test]
fn no_long_functions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut long = Vec::new();
    for (dir, code_limit) in [("src", SRC_FN_LINES), ("tests", TEST_FN_LINES)] {
        let files = rust_files(&root.join(dir));
        assert!(
            files.len() > 20,
            "found only {} files in {dir}",
            files.len()
        );
        for file in files {
            let text = fs::read_to_string(&file).unwrap();
            let all = without_comments_and_literals(&text);
            let rel = file.strip_prefix(root).unwrap().display().to_string();
            let mut check = |code: &str, limit: usize| {
                for (name, line, lines) in functions(code) {
                    if lines > limit {
                        long.push(format!("{rel}:{line} fn {name}: {lines} lines (> {limit})"));
                    }
                }
            };
            check(&without_test_items(&all), code_limit);
            check(&all, TEST_FN_LINES);
        }
    }
    long.sort();
    long.dedup();
    assert!(long.is_empty(), "functions too long:\n{}", long.join("\n"));
}

#[test]
fn functions_are_measured_from_fn_to_their_closing_brace() {
    let text = "fn one() {}\n\nfn two(\n    a: [u8; 4],\n) -> Vec<u8> {\n    let s = \"}\n}\";\n    /* }\n */\n    a.to_vec()\n}\ntrait T { fn decl(&self); }\n#[cfg(test)]\nmod t {\n    fn three() {\n    }\n}\n";
    let all = without_comments_and_literals(text);
    assert_eq!(
        all.lines().count(),
        text.lines().count(),
        "line breaks kept"
    );
    let got = functions(&all);
    let want = [("one", 1, 1), ("two", 3, 9), ("three", 15, 2)];
    let want: Vec<(String, usize, usize)> = want
        .iter()
        .map(|&(n, l, c)| (n.to_string(), l, c))
        .collect();
    assert_eq!(got, want);
    let code = without_test_items(&all);
    assert_eq!(
        code.lines().count(),
        text.lines().count(),
        "line breaks kept"
    );
    assert_eq!(functions(&code), want[..2].to_vec());
}

/// Each function with a body: its name, the line of its `fn` (from 1), and its length in
/// lines, from that line to the line of the body's closing brace. `code` is without
/// comments and literals, so braces and semicolons are the code's own.
fn functions(code: &str) -> Vec<(String, usize, usize)> {
    let b: Vec<char> = code.chars().collect();
    let line_at = |i: usize| b[..i].iter().filter(|&&c| c == '\n').count() + 1;
    let mut out = Vec::new();
    let mut i = 0;
    while i + 2 < b.len() {
        let is_fn =
            b[i] == 'f' && b[i + 1] == 'n' && b[i + 2].is_whitespace() && !ident_before(&b, i);
        if !is_fn {
            i += 1;
            continue;
        }
        let name: String = b[i + 2..]
            .iter()
            .skip_while(|c| c.is_whitespace())
            .take_while(|c| c.is_alphanumeric() || **c == '_')
            .collect();
        // The body opens at the first `{` outside the signature's brackets; a `;` there
        // first means a declaration without a body.
        let mut depth = 0i32;
        let mut j = i + 2;
        let open = loop {
            match b.get(j) {
                None => break None,
                Some('(' | '[') => depth += 1,
                Some(')' | ']') => depth -= 1,
                Some(';') if depth == 0 => break None,
                Some('{') if depth == 0 => break Some(j),
                _ => {}
            }
            j += 1;
        };
        if let Some(open) = open {
            let mut depth = 0usize;
            let mut k = open;
            while k < b.len() {
                match b[k] {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                k += 1;
            }
            let first = line_at(i);
            out.push((name, first, line_at(k.min(b.len() - 1)) - first + 1));
        }
        i += 2;
    }
    out
}

#[test]
fn no_import_cycle_among_top_level_modules() {
    let graph = module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(
        graph.len() > 10,
        "found only {} modules: {graph:?}",
        graph.len()
    );
    let cycles: Vec<String> = strongly_connected(&graph)
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|c| describe(&graph, &c))
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles among the top-level modules of src/:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_parser_sees_what_counts_and_skips_what_does_not() {
    let text = r##"
        use crate::{alpha, beta::x, gamma::{y, z}};
        use crate::delta as d;
        // use crate::comment;
        /* use crate::block /* nested */ still comment crate::block2 */
        fn f() { let s = "crate::string"; let r = r#"crate::raw"#; let c = '"'; crate::epsilon::g(); }
        fn lifetime<'a>(x: &'a str) -> &'a str { crate::zeta::h(x) }
        #[cfg(test)]
        mod test { use crate::tested; }
        #[cfg(test)]
        fn helper() { crate::helper_only(); }
    "##;
    let got = crate_paths(&strip(text));
    let want: BTreeSet<String> = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(got, want);
    let mut g = Graph::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "d")] {
        g.entry(a.into()).or_default().insert(b.into());
        g.entry(b.into()).or_default();
    }
    let sccs: Vec<Vec<String>> = strongly_connected(&g)
        .into_iter()
        .filter(|c| c.len() > 1)
        .collect();
    assert_eq!(sccs, vec![vec!["a", "b", "c"]]);
    assert_eq!(
        describe(&g, &sccs[0]),
        "a -> b -> c -> a; its imports: a->b b->c c->a"
    );
}

/// Top-level module -> the top-level modules its non-test code names.
fn module_graph(src: &Path) -> Graph {
    let mut graph = Graph::new();
    for file in rust_files(src) {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        // The binary names the library as `synsurvey::`, not `crate::`.
        if module == "main" {
            continue;
        }
        let text = fs::read_to_string(&file).unwrap();
        let deps = graph.entry(module.clone()).or_default();
        for dep in crate_paths(&strip(&text)) {
            if dep != module && dep != "self" {
                deps.insert(dep);
            }
        }
    }
    graph.remove("lib");
    let known: BTreeSet<String> = graph.keys().cloned().collect();
    for deps in graph.values_mut() {
        deps.retain(|d| known.contains(d));
    }
    graph
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The source without comments, string and character literals, and `#[cfg(test)]` items.
fn strip(text: &str) -> String {
    let code = without_comments_and_literals(text);
    without_test_items(&code)
}

fn without_comments_and_literals(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let next = b.get(i + 1).copied();
        if b[i] == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if b[i] == '/' && next == Some('*') {
            let from = i;
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
            out.extend(line_breaks(&b[from..i.min(b.len())]));
        } else if b[i] == 'r' && (next == Some('#') || next == Some('"')) && !ident_before(&b, i) {
            // A raw string: r"..." or r#"..."#, closed by a quote and as many #.
            let mut j = i + 1;
            while b.get(j) == Some(&'#') {
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(b[i]);
                i += 1;
                continue;
            }
            let from = i;
            let hashes = j - i - 1;
            j += 1;
            while j < b.len() && !(b[j] == '"' && (1..=hashes).all(|k| b.get(j + k) == Some(&'#')))
            {
                j += 1;
            }
            i = j + 1 + hashes;
            out.push_str("\"\"");
            out.extend(line_breaks(&b[from..i.min(b.len())]));
        } else if b[i] == '"' {
            let from = i;
            i += 1;
            while i < b.len() && b[i] != '"' {
                i += if b[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
            out.extend(line_breaks(&b[from..i.min(b.len())]));
        } else if b[i] == '\'' {
            // A character literal ('x', '\n', '"'); otherwise a lifetime, kept as is.
            if next == Some('\\') {
                i += 2;
                while i < b.len() && b[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push_str("' '");
            } else if b.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(b[i]);
                i += 1;
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// The line breaks among `skipped` characters, so that what is left keeps its line numbers.
fn line_breaks(skipped: &[char]) -> impl Iterator<Item = char> + '_ {
    skipped.iter().copied().filter(|&c| c == '\n')
}

fn ident_before(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

/// Drops each item that follows `#[cfg(test)]`: up to its `;` or its closing brace (its
/// line breaks stay).
fn without_test_items(code: &str) -> String {
    const ATTR: &str = "#[cfg(test)]";
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find(ATTR) {
        out.push_str(&rest[..at]);
        let item = &rest[at + ATTR.len()..];
        let mut depth = 0usize;
        let mut end = item.len();
        for (k, c) in item.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = k + 1;
                    break;
                }
                _ => {}
            }
        }
        out.extend(item[..end].chars().filter(|&c| c == '\n'));
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// The first segment of every `crate::` path, groups (`crate::{a, b::c}`) included.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let after = rest.trim_start();
        if let Some(group) = after.strip_prefix('{') {
            found.extend(group_heads(group));
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// The first segment of each path at the top level of a `{...}` group (after its `{`).
fn group_heads(group: &str) -> Vec<String> {
    let mut pieces = vec![String::new()];
    let mut depth = 0usize;
    for c in group.chars() {
        match c {
            '}' if depth == 0 => break,
            ',' if depth == 0 => pieces.push(String::new()),
            _ => {
                depth = match c {
                    '{' => depth + 1,
                    '}' => depth - 1,
                    _ => depth,
                };
                pieces.last_mut().unwrap().push(c);
            }
        }
    }
    pieces
        .iter()
        .map(|p| {
            p.trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|h| !h.is_empty() && h != "self")
        .collect()
}

/// Tarjan's strongly connected components, each sorted, in a stable order.
fn strongly_connected(g: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            comp.sort();
            s.out.push(comp);
        }
    }
    let mut s = State {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out.sort();
    s.out
}

/// One cycle through a component, as `a -> b -> a`, followed by the rest of its members.
fn describe(g: &Graph, comp: &[String]) -> String {
    let members: BTreeSet<&str> = comp.iter().map(String::as_str).collect();
    let start = comp[0].as_str();
    // Breadth-first from the start back to it, within the component.
    let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    let mut last = None;
    while let Some(v) = queue.pop_front() {
        for w in g.get(v).into_iter().flatten().map(String::as_str) {
            if !members.contains(w) {
                continue;
            }
            if w == start {
                last = Some(v);
                queue.clear();
                break;
            }
            if !prev.contains_key(w) {
                prev.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    let mut path = vec![start];
    let mut v = last.unwrap_or(start);
    while v != start {
        path.push(v);
        v = prev[v];
    }
    path[1..].reverse();
    path.push(start);
    let mut line = path.join(" -> ");
    let on_path: BTreeSet<&str> = path.iter().copied().collect();
    let others: Vec<&str> = comp
        .iter()
        .map(String::as_str)
        .filter(|m| !on_path.contains(m))
        .collect();
    if !others.is_empty() {
        line.push_str(&format!(" (component also holds {})", others.join(", ")));
    }
    let edges: Vec<String> = comp
        .iter()
        .flat_map(|a| {
            g[a].iter()
                .filter(|b| members.contains(b.as_str()))
                .map(move |b| format!("{a}->{b}"))
        })
        .collect();
    line.push_str(&format!("; its imports: {}", edges.join(" ")));
    line
}
