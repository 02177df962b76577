// SPDX-License-Identifier: Apache-2.0
//! Query plans of every statement on the sync, apply, upload and checkpoint paths
//! (`engine::hot_statements`), on a database with many synced rows and queued writes:
//! none may scan `ps_oplog`, `ps_crud` or a data table unless the list says why it must.
//! Checked with SQLite's default estimates and again after `ANALYZE` (apps may run
//! `ANALYZE` or `PRAGMA optimize`, which is when a plain join can pick the wrong order).
//!
//! `PSYNC_PLAN_ROWS=1000000 cargo test --release -p psync-core --test engine query_plans -- --nocapture`
//! runs it on a million rows and prints every plan.

use psync_test_support::engine;

use engine::hot_statements::{HotStatement, hot_statements};
use engine::sync::SyncCommand;
use psync_core::schema::{Column, Schema, Table};
use rusqlite::Connection;
use serde_json::json;

const DEFAULT_ROWS: usize = 20_000;
const OPS_PER_LINE: usize = 1000;
/// Buckets, unbalanced like real ones (98% of the rows in the first): that is when a plain
/// join of buckets and ops walks the whole op log.
const BUCKETS: [&str; 3] = ["big", "medium", "small"];

fn rows() -> usize {
    std::env::var("PSYNC_PLAN_ROWS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(DEFAULT_ROWS)
}

fn texts(lines: Vec<String>) -> Vec<SyncCommand> {
    lines.into_iter().map(SyncCommand::LineText).collect()
}

fn bucket_of(row: usize) -> usize {
    match row % 100 {
        0 => 2,
        1 => 1,
        _ => 0,
    }
}

/// Builds sync lines: PUTs of `items` rows (every 1000th an untyped type) into three buckets,
/// with the checkpoints that cover them.
#[derive(Default)]
struct Feed {
    op_id: u64,
    /// Ops sent per bucket; every op has checksum 1, so this is also the bucket checksum.
    counts: [i64; BUCKETS.len()],
    pending: [Vec<serde_json::Value>; BUCKETS.len()],
    lines: Vec<String>,
}

impl Feed {
    fn put(&mut self, row: usize, version: u32) {
        self.op_id += 1;
        let b = bucket_of(row);
        let object_type = if row % 1000 == 7 { "untyped" } else { "items" };
        self.counts[b] += 1;
        self.pending[b].push(json!({"op_id": self.op_id.to_string(), "op": "PUT",
            "object_type": object_type, "object_id": format!("row-{row:08}"),
            "data": format!("{{\"col\":\"value {row} v{version}\"}}"), "checksum": 1}));
        if self.pending[b].len() == OPS_PER_LINE {
            self.flush_bucket(b);
        }
    }

    fn flush_bucket(&mut self, b: usize) {
        let data = std::mem::take(&mut self.pending[b]);
        if !data.is_empty() {
            self.lines
                .push(json!({"data": {"bucket": BUCKETS[b], "data": data}}).to_string());
        }
    }

    /// The lines so far, once there are enough for one transaction.
    fn ready(&mut self) -> Option<Vec<String>> {
        (self.lines.len() >= 16).then(|| std::mem::take(&mut self.lines))
    }

    /// Everything pending, then a full checkpoint over it.
    fn checkpoint(&mut self) -> Vec<String> {
        for b in 0..BUCKETS.len() {
            self.flush_bucket(b);
        }
        let buckets: Vec<_> = BUCKETS
            .iter()
            .zip(self.counts)
            .map(|(name, count)| json!({"bucket": name, "checksum": count, "priority": 3}))
            .collect();
        let last = self.op_id.to_string();
        self.lines
            .push(json!({"checkpoint": {"last_op_id": last, "buckets": buckets}}).to_string());
        self.lines
            .push(json!({"checkpoint_complete": {"last_op_id": last}}).to_string());
        std::mem::take(&mut self.lines)
    }
}

/// `rows` synced rows in three buckets, applied by a full checkpoint, then a second one
/// updating every 50th row (so the incremental path has run), then queued local writes.
fn large_database(dir: &std::path::Path, rows: usize) -> engine::TestDb {
    let db = engine::register(Connection::open(dir.join("plans.db")).expect("open"));
    db.conn
        .execute_batch("PRAGMA journal_mode = WAL; BEGIN; SELECT powersync_init(); COMMIT;")
        .expect("migrate");
    db.apply(&Schema::new([Table::new("items", [Column::text("col")])]));
    db.control_json("start", None);

    let mut feed = Feed::default();
    for version in 1..=2 {
        for row in (0..rows).step_by(if version == 1 { 1 } else { 50 }) {
            feed.put(row, version);
            if let Some(ready) = feed.ready() {
                db.control_lines(&texts(ready)).expect("control_lines");
            }
        }
        let last = feed.checkpoint();
        db.control_lines(&texts(last)).expect("control_lines");
    }
    let typed = (0..rows).filter(|row| row % 1000 != 7).count();
    assert_eq!(db.count("SELECT count(*) FROM items"), typed as i64);
    assert_eq!(
        db.count("SELECT count(*) FROM items WHERE col LIKE '% v2'"),
        (0..rows).step_by(50).filter(|row| row % 1000 != 7).count() as i64,
        "the second checkpoint was applied"
    );

    local_writes(&db, (rows / 10).clamp(100, 20_000));
    db
}

/// Queued local writes: single-row transactions and a few larger ones.
fn local_writes(db: &engine::TestDb, writes: usize) {
    for chunk in 0..writes / 10 {
        db.conn.execute_batch("BEGIN").expect("begin");
        for i in 0..10 {
            db.conn
                .execute(
                    "INSERT INTO items(id, col) VALUES (?, 'local')",
                    [format!("local-{chunk}-{i}")],
                )
                .expect("local write");
        }
        db.conn.execute_batch("COMMIT").expect("commit");
    }
}

/// The table a plan's `SCAN name` reads: `name` itself or the table it aliases in `sql`.
fn scanned_table(name: &str, sql: &str, tables: &[String]) -> Option<String> {
    if tables.iter().any(|t| t == name) {
        return Some(name.to_owned());
    }
    let tokens: Vec<String> = sql
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|t| !t.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let alias = name.to_ascii_lowercase();
    tokens.windows(3).find_map(|w| {
        let aliased = w[1] == alias || (w[1] == "as" && w[2] == alias);
        (aliased && tables.contains(&w[0])).then(|| w[0].clone())
    })
}

/// Large tables that must only be searched: the op log, the upload queue and data tables.
fn is_guarded(table: &str) -> bool {
    table == "ps_oplog" || table == "ps_crud" || table.starts_with("ps_data__")
}

/// `(plan lines, guarded tables scanned)` of one statement.
fn plan(
    conn: &Connection,
    statement: &HotStatement,
    tables: &[String],
) -> (Vec<String>, Vec<String>) {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {}", statement.sql))
        .unwrap_or_else(|e| panic!("{}: {e}", statement.name));
    // Parameters stay unbound (NULL): the plan does not depend on their values.
    let mut rows = stmt.raw_query();
    let mut details = Vec::new();
    while let Some(row) = rows.next().expect("plan row") {
        details.push(row.get::<_, String>(3).expect("plan detail"));
    }
    let scanned = details
        .iter()
        .filter_map(|d| scanned_name(d))
        .filter_map(|name| scanned_table(name, &statement.sql, tables))
        .filter(|t| is_guarded(t))
        .collect();
    (details, scanned)
}

/// The table or alias a plan line reads without an equality on the leading column of the
/// index it uses: `SCAN t …`, or `SEARCH t USING … (col>? …)` — an open range such as the
/// `row_type > NULL` SQLite derives from `row_type IS NOT NULL`, which walks the whole index.
/// (`SEARCH t USING … INDEX i` without constraints is a min()/max() lookup.)
fn scanned_name(detail: &str) -> Option<&str> {
    if let Some(rest) = detail.strip_prefix("SCAN ") {
        return rest.split_whitespace().next();
    }
    let rest = detail.strip_prefix("SEARCH ")?;
    let leading = rest.split_once('(')?.1.split(" AND ").next()?;
    if leading.contains('=') {
        return None;
    }
    rest.split_whitespace().next()
}

fn table_names(conn: &Connection) -> Vec<String> {
    engine::rows(
        conn,
        "SELECT lower(name) FROM sqlite_master WHERE type = 'table'",
        |r| r.get(0),
    )
}

/// Checks every statement; returns the failures and whether each allowed scan was seen.
fn check_all(conn: &Connection, label: &str, used_allowance: &mut [bool]) -> Vec<String> {
    let tables = table_names(conn);
    let mut failures = Vec::new();
    for (i, statement) in hot_statements("items").iter().enumerate() {
        let (details, scanned) = plan(conn, statement, &tables);
        eprintln!("[{label}] {}: {}", statement.name, details.join(" | "));
        if scanned.is_empty() {
            continue;
        }
        match statement.may_scan {
            Some(_) => used_allowance[i] = true,
            None => failures.push(format!(
                "[{label}] {} scans {scanned:?}: {}",
                statement.name,
                details.join(" | ")
            )),
        }
    }
    failures
}

#[test]
fn hot_statements_search_instead_of_scanning_large_tables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = large_database(dir.path(), rows());
    assert!(db.count("SELECT count(*) FROM ps_crud") >= 100);
    let statements = hot_statements("items");
    let mut used_allowance = vec![false; statements.len()];

    let mut failures = check_all(&db.conn, "default estimates", &mut used_allowance);
    db.conn.execute_batch("ANALYZE").expect("analyze");
    failures.extend(check_all(&db.conn, "after ANALYZE", &mut used_allowance));
    assert!(failures.is_empty(), "full scans:\n{}", failures.join("\n"));

    let stale: Vec<&str> = statements
        .iter()
        .zip(&used_allowance)
        .filter(|(s, used)| s.may_scan.is_some() && !**used)
        .map(|(s, _)| s.name)
        .collect();
    assert!(
        stale.is_empty(),
        "allowed to scan but no longer do: {stale:?}"
    );
}

#[test]
fn the_checker_sees_scans_and_open_ranges() {
    assert_eq!(scanned_name("SCAN o USING INDEX ps_oplog_row"), Some("o"));
    assert_eq!(
        scanned_name("SEARCH o USING INDEX ps_oplog_row (row_type>?)"),
        Some("o")
    );
    assert_eq!(
        scanned_name("SEARCH o USING INDEX ps_oplog_opid (bucket=? AND op_id>?)"),
        None
    );
    assert_eq!(
        scanned_name("SEARCH ps_oplog USING COVERING INDEX ps_oplog_row"),
        None
    );
    assert_eq!(scanned_name("SCAN CONSTANT ROW"), Some("CONSTANT"));
}

#[test]
fn the_checker_sees_a_scan_through_an_alias() {
    let tables = vec!["ps_oplog".to_owned(), "ps_buckets".to_owned()];
    let sql = "SELECT o.row_id FROM ps_buckets b JOIN ps_oplog o ON o.bucket = b.id";
    assert_eq!(
        scanned_table("o", sql, &tables).as_deref(),
        Some("ps_oplog")
    );
    assert_eq!(
        scanned_table("b", sql, &tables).as_deref(),
        Some("ps_buckets")
    );
    let sql = "SELECT 1 FROM ps_oplog AS r";
    assert_eq!(
        scanned_table("r", sql, &tables).as_deref(),
        Some("ps_oplog")
    );
    assert_eq!(scanned_table("u", sql, &tables), None);
}
