// SPDX-License-Identifier: Apache-2.0
//! Change notifications: raw table-change streams and queries re-run when a table they read
//! changes.

use std::collections::BTreeSet;

use futures_util::Stream;
use tokio::sync::mpsc;

use super::blocking;
use crate::db::{Database, Row, TableListenerHandle, Value};
use crate::{Error, Result};

/// Raw table names (as SQLite sees them) behind a user-facing table or view name.
fn raw_names(name: &str) -> [String; 3] {
    [
        name.to_string(),
        format!("ps_data__{name}"),
        format!("ps_data_local__{name}"),
    ]
}

/// The user-facing name of a raw table name.
pub(crate) fn view_name(raw: &str) -> &str {
    raw.strip_prefix("ps_data__")
        .or_else(|| raw.strip_prefix("ps_data_local__"))
        .unwrap_or(raw)
}

/// Stream of changed table sets; keeps its table listener registered while alive.
struct ChangeStream {
    rx: mpsc::UnboundedReceiver<BTreeSet<String>>,
    _listener: TableListenerHandle,
}

fn listen(db: &Database, filter: BTreeSet<String>) -> ChangeStream {
    let (tx, rx) = mpsc::unbounded_channel();
    let listener = db.add_table_listener(Box::new(move |changed: &BTreeSet<String>| {
        let hits: BTreeSet<String> = changed
            .iter()
            .filter(|t| filter.contains(t.as_str()))
            .map(|t| view_name(t).to_string())
            .collect();
        if !hits.is_empty() {
            let _ = tx.send(hits);
        }
    }));
    ChangeStream {
        rx,
        _listener: listener,
    }
}

/// Stream of sets of changed table names (user-facing names) among `tables`, one item per
/// committed write transaction that touched them.
pub fn on_change(
    db: &Database,
    tables: &[&str],
) -> impl Stream<Item = BTreeSet<String>> + Send + use<> {
    let filter = tables.iter().flat_map(|t| raw_names(t)).collect();
    let stream = listen(db, filter);
    futures_util::stream::unfold(stream, |mut s| async move {
        let item = s.rx.recv().await?;
        Some((item, s))
    })
}

/// The tables a statement reads, found through the `OpenRead` opcodes of its `EXPLAIN`.
pub fn tables_read_by(db: &Database, sql: &str) -> Result<BTreeSet<String>> {
    db.read(|tx| {
        let conn = tx.connection();
        let mut root_pages = BTreeSet::new();
        let mut stmt = conn.prepare(&format!("EXPLAIN {sql}"))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let opcode: String = row.get(1)?;
            if opcode == "OpenRead" {
                root_pages.insert(row.get::<_, i64>(3)?);
            }
        }
        let mut names = BTreeSet::new();
        let mut stmt = conn.prepare("SELECT tbl_name FROM sqlite_schema WHERE rootpage = ?")?;
        for page in root_pages {
            let mut rows = stmt.query([page])?;
            while let Some(row) = rows.next()? {
                names.insert(row.get::<_, String>(0)?);
            }
        }
        Ok(names)
    })
}

/// Runs `sql` now and again after every write to a table it reads.
pub fn watch(
    db: &Database,
    sql: &str,
    params: Vec<Value>,
) -> Result<impl Stream<Item = Result<Vec<Row>>> + Send + use<>> {
    let tables = tables_read_by(db, sql)?;
    if tables.is_empty() {
        return Err(Error::invalid_argument("the watched query reads no table"));
    }
    let changes = listen(db, tables);
    let state = (changes, db.clone(), sql.to_string(), params, true);
    Ok(futures_util::stream::unfold(
        state,
        |(mut changes, db, sql, params, first)| async move {
            if !first {
                changes.rx.recv().await?;
                // Coalesce a burst of commits into one re-run.
                while changes.rx.try_recv().is_ok() {}
            }
            let query_db = db.clone();
            let query_sql = sql.clone();
            let query_params = params.clone();
            let rows = blocking(move || query_db.get_all(&query_sql, &query_params)).await;
            Some((rows, (changes, db, sql, params, false)))
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_names_strip_internal_prefixes() {
        assert_eq!(view_name("ps_data__todos"), "todos");
        assert_eq!(view_name("ps_data_local__drafts"), "drafts");
        assert_eq!(view_name("ps_crud"), "ps_crud");
    }
}
