//! The architecture test: the dependency rule of README's "Layout", checked on the source.
//! A slice imports the core, never another slice; the core never imports a slice; the
//! modules of the core import each other without a cycle. Every top-level module of `src/`
//! must be named below as entry, core or slice, so a new one is a deliberate choice.
//! And every handler of the route table fits in `MAX_HANDLER_LINES`, unless `EXCEPTIONS`
//! names it with a reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Entry points: they assemble the application and may name anything.
const ENTRY: &[&str] = &["main", "lib", "routes", "cli"];
/// The core every slice stands on. It names no slice.
const CORE: &[&str] = &[
    "audit", "catalog", "config", "db", "engine", "error", "events", "identity", "metrics",
    "state", "web",
];
/// The feature slices. Each imports the core and itself only.
const SLICES: &[&str] = &[
    "api",
    "auditlog",
    "console",
    "dashboard",
    "data",
    "integrations",
    "ops",
    "schema",
    "signin",
    "users",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Entry,
    Core,
    Slice,
}

fn kind(module: &str) -> Option<Kind> {
    if ENTRY.contains(&module) {
        Some(Kind::Entry)
    } else if CORE.contains(&module) {
        Some(Kind::Core)
    } else if SLICES.contains(&module) {
        Some(Kind::Slice)
    } else {
        None
    }
}

/// The module path of a file relative to `src/`: `data/bulk.rs` → [data, bulk].
fn module_path(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Code without comments (line comments and doc comments), so prose never counts.
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_at(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The top-level modules a file names: `crate::x…`, `use crate::{x, y::…}`, and `super::`
/// chains that climb out of the file's own top-level module.
fn imported_modules(rel: &str, text: &str) -> BTreeSet<String> {
    let code = code_of(text);
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        out.insert(ident_at(&group[j..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident_at(rest));
        }
    }
    let depth = module_path(rel).len();
    for (i, _) in code.match_indices("super::") {
        if i >= "super::".len() && code[..i].ends_with("super::") {
            continue;
        }
        let mut rest = &code[i..];
        let mut climbs = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            climbs += 1;
            rest = r;
        }
        // Climbing as many levels as the file is deep reaches the crate root, and the
        // next name is a top-level module.
        if climbs >= depth {
            out.insert(ident_at(rest));
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

/// Every breach of the rule in these files (path relative to `src/`, text).
fn violations(files: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut core_edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rel, text) in files {
        let Some(own) = module_path(rel).first().cloned() else {
            continue;
        };
        let Some(own_kind) = kind(&own) else {
            problems.push(format!(
                "src/{rel}: module `{own}` is neither entry, core nor slice: add it to the lists in tests/it/architecture.rs and to README's Layout"
            ));
            continue;
        };
        for target in imported_modules(rel, text) {
            if target == own {
                continue;
            }
            let Some(target_kind) = kind(&target) else {
                continue; // an item of lib.rs such as `crate::Running`
            };
            match (own_kind, target_kind) {
                (Kind::Entry, _) => {}
                (_, Kind::Entry) => problems.push(format!(
                    "src/{rel} imports crate::{target}: only the entry points may use the route table and the command line"
                )),
                (Kind::Core, Kind::Slice) => problems.push(format!(
                    "src/{rel} imports crate::{target}: the core (`{own}`) never imports a slice; move the shared piece into the core"
                )),
                (Kind::Slice, Kind::Slice) => problems.push(format!(
                    "src/{rel} imports crate::{target}: slice `{own}` may import only the core and itself; move the shared piece into the core"
                )),
                (Kind::Core, Kind::Core) => {
                    core_edges.entry(own.clone()).or_default().insert(target);
                }
                (Kind::Slice, Kind::Core) => {}
            }
        }
    }
    if let Some(cycle) = find_cycle(&core_edges) {
        problems.push(format!(
            "the core's modules import each other in a circle: {}",
            cycle.join(" → ")
        ));
    }
    problems
}

fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|n| visit(n, edges, &mut Vec::new(), &mut done))
}

fn source_files() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(&root)
                    .expect("under src/")
                    .to_string_lossy()
                    .replace('\\', "/");
                let text = std::fs::read_to_string(&path).expect("source is UTF-8");
                out.push((rel, text));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn slices_import_only_the_core_and_the_core_names_no_slice() {
    let files = source_files();
    assert!(
        files.len() > 40,
        "the source tree was not found (read {} files)",
        files.len()
    );
    let problems = violations(&files);
    assert!(
        problems.is_empty(),
        "the dependency rule is broken:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn every_top_level_module_is_classified() {
    let unknown: BTreeSet<String> = source_files()
        .iter()
        .filter_map(|(rel, _)| module_path(rel).first().cloned())
        .filter(|m| kind(m).is_none())
        .collect();
    assert!(unknown.is_empty(), "unclassified modules: {unknown:?}");
}

fn file(rel: &str, text: &str) -> (String, String) {
    (rel.to_string(), text.to_string())
}

#[test]
fn the_rule_catches_planted_imports() {
    let planted = [
        file("data/bulk.rs", "use crate::api::auth::ApiAccess;\n"),
        file("engine/store.rs", "fn f() { crate::data::routes::x(); }\n"),
        file("users/roles.rs", "use crate::{db, signin::routes};\n"),
        file("identity/session.rs", "use crate::routes::ROUTES;\n"),
        file("catalog/mod.rs", "use crate::engine::value::Value;\n"),
        file("engine/value.rs", "use crate::catalog::Kind;\n"),
        file("api/auth.rs", "use super::super::data::form;\n"),
        file("newthing/mod.rs", "use crate::db;\n"),
    ];
    let problems = violations(&planted);
    for needle in [
        "src/data/bulk.rs imports crate::api",
        "src/engine/store.rs imports crate::data",
        "src/users/roles.rs imports crate::signin",
        "src/identity/session.rs imports crate::routes",
        "src/api/auth.rs imports crate::data",
        "in a circle",
        "module `newthing`",
    ] {
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "expected a problem containing {needle:?}, got {problems:#?}"
        );
    }
    assert_eq!(problems.len(), 7, "{problems:#?}");
}

#[test]
fn allowed_imports_and_prose_pass() {
    let fine = [
        file(
            "data/routes.rs",
            "//! uses crate::api in prose only\nuse crate::{db, engine::store};\nuse super::form;\n",
        ),
        file("routes.rs", "use crate::{api, data};\n"),
        file("engine/store.rs", "use crate::catalog::Table;\n"),
        file("catalog/mod.rs", "use crate::db::DbConn;\n"),
        file("lib.rs", "pub mod api;\n"),
    ];
    assert_eq!(violations(&fine), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------
// The handler-length rule: a handler reads the request, calls the core (or its slice's
// store), and renders. When it grows past a screenful, the logic in it belongs elsewhere.

/// The most lines a handler may take, from its `fn` line to its closing brace.
const MAX_HANDLER_LINES: usize = 40;

/// Handlers allowed to be longer: (handler path as the route table names it, without
/// `crate::`; why). Keep it short, and say why each one cannot be split.
const EXCEPTIONS: &[(&str, &str)] = &[];

/// The handler paths of the route table, in its order, without a leading `crate::`:
/// `get "/data/{table}" => data::routes::list;` gives `data::routes::list`.
fn route_handlers(routes: &str) -> Vec<String> {
    let code = code_of(routes);
    let Some(start) = code.find("route_table! {") else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for line in code[start..].lines().skip(1) {
        if line.starts_with('}') {
            break;
        }
        let Some((route, handler)) = line.split_once("=>") else {
            continue;
        };
        if !route.trim_end().ends_with('"') {
            continue;
        }
        let handler = handler.trim().trim_end_matches(';').trim();
        let handler = handler.strip_prefix("crate::").unwrap_or(handler);
        if !out.iter().any(|h| h == handler) {
            out.push(handler.to_string());
        }
    }
    out
}

/// The files (relative to `src/`) that may define `handler`, and the function's name:
/// `data::routes::list` is `list` in `data/routes.rs` or `data/routes/mod.rs`.
fn handler_files(handler: &str) -> (Vec<String>, String) {
    let parts: Vec<&str> = handler.split("::").collect();
    let (name, module) = parts.split_last().expect("a handler path has a name");
    let module = module.join("/");
    (
        vec![format!("{module}.rs"), format!("{module}/mod.rs")],
        name.to_string(),
    )
}

/// Whether `line` starts the definition of function `name` at column 0.
fn defines(line: &str, name: &str) -> bool {
    let rest = ["pub(crate) ", "pub(super) ", "pub "]
        .iter()
        .find_map(|v| line.strip_prefix(v))
        .unwrap_or(line);
    let rest = rest.strip_prefix("async ").unwrap_or(rest);
    rest.strip_prefix("fn ")
        .and_then(|r| r.strip_prefix(name))
        .is_some_and(|r| r.starts_with('(') || r.starts_with('<'))
}

/// The lines of function `name` in `text`, from its `fn` line to its closing brace at
/// column 0 (both counted), if `text` defines it.
fn fn_length(text: &str, name: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.iter().position(|l| defines(l, name))?;
    let one_line = lines[first].trim_end().ends_with('}')
        && lines[first].matches('{').count() == lines[first].matches('}').count();
    if one_line {
        return Some(1);
    }
    let last = (first + 1..lines.len()).find(|&i| lines[i].starts_with('}'))?;
    Some(last - first + 1)
}

/// Every handler of the route table over the limit and not excepted, every handler that
/// cannot be found, and every exception no longer needed. `read` gives the text of a file
/// under `src/` by its relative path.
fn long_handlers(
    routes: &str,
    read: &dyn Fn(&str) -> Option<String>,
    exceptions: &[(&str, &str)],
) -> Vec<String> {
    let mut problems = Vec::new();
    let handlers = route_handlers(routes);
    for handler in &handlers {
        let (files, name) = handler_files(handler);
        let found = files
            .iter()
            .find_map(|f| read(f).and_then(|text| fn_length(&text, &name).map(|n| (f, n))));
        let Some((file, lines)) = found else {
            problems.push(format!(
                "{handler}: no `fn {name}` found at column 0 of src/{}",
                files.join(" or src/")
            ));
            continue;
        };
        let excepted = exceptions.iter().any(|(h, _)| h == handler);
        if lines > MAX_HANDLER_LINES && !excepted {
            problems.push(format!(
                "{handler} (src/{file}) is {lines} lines, over {MAX_HANDLER_LINES}"
            ));
        }
        if lines <= MAX_HANDLER_LINES && excepted {
            problems.push(format!(
                "{handler} is {lines} lines now: remove it from EXCEPTIONS"
            ));
        }
    }
    for (handler, _) in exceptions {
        if !handlers.iter().any(|h| h == handler) {
            problems.push(format!(
                "EXCEPTIONS names {handler}, which the route table does not: remove it"
            ));
        }
    }
    problems
}

fn read_src(rel: &str) -> Option<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(rel);
    std::fs::read_to_string(path).ok()
}

#[test]
fn handlers_fit_on_a_screen() {
    let routes = read_src("routes.rs").expect("src/routes.rs is readable");
    assert!(
        route_handlers(&routes).len() > 50,
        "the route table was not read (found {:?})",
        route_handlers(&routes)
    );
    let problems = long_handlers(&routes, &read_src, EXCEPTIONS);
    assert!(
        problems.is_empty(),
        "handlers longer than {MAX_HANDLER_LINES} lines (move the work into the core or the \
         slice's store, or add the handler to EXCEPTIONS with the reason):\n  {}",
        problems.join("\n  ")
    );
}

/// A function of `n` lines in all, from its `fn` line to its closing brace.
fn planted_fn(signature: &str, n: usize) -> String {
    let mut text = format!("{signature} {{\n");
    for i in 0..n - 1 - signature.lines().count() {
        text.push_str(&format!("    let _x{i} = {i};\n"));
    }
    text.push_str("}\n");
    text
}

#[test]
fn the_handler_length_rule_catches_planted_long_handlers() {
    let routes = "\
use crate::shop;

macro_rules! route_table {
    ($($method:ident $path:literal => $handler:path;)*) => {};
}

route_table! {
    get \"/short\" => shop::pages::short;
    // get \"/commented\" => shop::pages::gone;
    get \"/long\" => shop::pages::long;
    post \"/long\" => shop::pages::long;
    get \"/edge\" => shop::edge;
    get \"/tiny\" => shop::tiny;
    get \"/asset\" => crate::web::assets::serve;
    get \"/missing\" => shop::pages::missing;
    get \"/nested\" => shop::orders::show;
}
";
    let pages = format!(
        "//! Pages.\n\n{}\n/// A lookalike name first.\n{}\n{}",
        planted_fn(
            "pub async fn long_form(req: HttpRequest) -> Result<Page, AppError>",
            60
        ),
        planted_fn("pub async fn short()", 3),
        planted_fn(
            "pub async fn long(\n    req: HttpRequest,\n) -> Result<Page, AppError>",
            41
        ),
    );
    let shop = format!(
        "{}\npub fn tiny() -> &'static str {{ \"ok\" }}\n",
        planted_fn("pub async fn edge()", MAX_HANDLER_LINES)
    );
    let assets = planted_fn("pub async fn serve<T>(t: T)", 45);
    let orders = planted_fn("pub(crate) async fn show()", 50);
    let read = |rel: &str| -> Option<String> {
        match rel {
            "shop/pages.rs" => Some(pages.clone()),
            "shop/mod.rs" => Some(shop.clone()),
            "web/assets.rs" => Some(assets.clone()),
            "shop/orders/mod.rs" => Some(orders.clone()),
            _ => None,
        }
    };

    assert_eq!(fn_length(&pages, "long"), Some(41));
    assert_eq!(fn_length(&pages, "long_form"), Some(60));
    assert_eq!(fn_length(&pages, "short"), Some(3));
    assert_eq!(fn_length(&shop, "tiny"), Some(1));
    assert_eq!(fn_length(&pages, "missing"), None);
    assert_eq!(
        route_handlers(routes),
        [
            "shop::pages::short",
            "shop::pages::long",
            "shop::edge",
            "shop::tiny",
            "web::assets::serve",
            "shop::pages::missing",
            "shop::orders::show",
        ]
    );

    let problems = long_handlers(routes, &read, &[]);
    assert_eq!(
        problems,
        [
            "shop::pages::long (src/shop/pages.rs) is 41 lines, over 40",
            "web::assets::serve (src/web/assets.rs) is 45 lines, over 40",
            "shop::pages::missing: no `fn missing` found at column 0 of src/shop/pages.rs or src/shop/pages/mod.rs",
            "shop::orders::show (src/shop/orders/mod.rs) is 50 lines, over 40",
        ]
    );

    // An exception lets a long handler pass; one that is no longer needed, or names no
    // handler, is itself a problem.
    let exceptions = [
        ("web::assets::serve", "planted"),
        ("shop::edge", "planted"),
        ("shop::gone", "planted"),
    ];
    let problems = long_handlers(routes, &read, &exceptions);
    assert_eq!(
        problems,
        [
            "shop::pages::long (src/shop/pages.rs) is 41 lines, over 40",
            "shop::edge is 40 lines now: remove it from EXCEPTIONS",
            "shop::pages::missing: no `fn missing` found at column 0 of src/shop/pages.rs or src/shop/pages/mod.rs",
            "shop::orders::show (src/shop/orders/mod.rs) is 50 lines, over 40",
            "EXCEPTIONS names shop::gone, which the route table does not: remove it",
        ]
    );
}
