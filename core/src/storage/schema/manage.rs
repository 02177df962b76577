// SPDX-License-Identifier: Apache-2.0
//! Applying a schema to a database (storage.md §2.3): storage tables, indexes, views.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension};

use super::Schema;
use super::sql::{
    create_index_sql, delete_trigger_sql, insert_trigger_sql, quote_identifier, update_trigger_sql,
    view_sql,
};
use crate::storage::functions::{self, Determinism};
use crate::value::Value;
use crate::{Error, Result};

/// The schema most recently applied on a connection (the sync engine reads raw tables from it).
#[derive(Debug, Default)]
pub struct SchemaState {
    current: Mutex<Option<Arc<Schema>>>,
}

impl SchemaState {
    /// The last schema applied through `powersync_replace_schema` on this connection.
    pub fn current(&self) -> Option<Arc<Schema>> {
        self.current.lock().clone()
    }

    /// Records `schema` as the current one.
    pub fn set(&self, schema: Schema) {
        *self.current.lock() = Some(Arc::new(schema));
    }

    /// Applies `schema` with [`replace_schema`] and records it as the current one.
    pub fn replace(&self, conn: &Connection, schema: Schema) -> Result<()> {
        replace_schema(conn, &schema)?;
        self.set(schema);
        Ok(())
    }
}

/// Registers `powersync_replace_schema(json)` on `conn`; applied schemas are stored in `state`.
pub fn register_functions(conn: &Connection, state: Arc<SchemaState>) -> Result<()> {
    functions::create_function(
        conn,
        "powersync_replace_schema",
        1,
        Determinism::Volatile,
        move |conn, args| {
            let Some(Value::Text(json)) = args.first() else {
                return Err(Error::invalid_schema("schema must be JSON text"));
            };
            let schema = Schema::from_json(json)?;
            functions::require_transaction(conn, "powersync_replace_schema")?;
            run_migrations_if_available(conn)?;
            replace_schema(conn, &schema)?;
            state.set(schema);
            Ok(Value::Text(String::new()))
        },
    )?;
    Ok(())
}

/// `powersync_replace_schema` first runs `powersync_init()` (migrations) when that function is
/// registered on the connection.
fn run_migrations_if_available(conn: &Connection) -> Result<()> {
    let has_init: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_function_list WHERE name = 'powersync_init')",
        [],
        |r| r.get(0),
    )?;
    if has_init {
        conn.query_row("SELECT powersync_init()", [], |_| Ok(()))?;
    }
    Ok(())
}

/// Applies `schema` (storage.md §2.3) inside the caller's transaction.
///
/// Unlike the SQL function it does not run migrations first (the `Database` runs them on open).
/// The schema is validated before anything is written; when nothing changed, no DDL runs and
/// `PRAGMA schema_version` stays the same. An error leaves the caller's transaction to roll back.
pub fn replace_schema(conn: &Connection, schema: &Schema) -> Result<()> {
    schema.validate()?;
    crate::storage::functions::require_transaction(conn, "powersync_replace_schema")?;
    // Generate every statement first, so a generation error cannot leave DDL half-applied.
    let mut views = Vec::with_capacity(schema.tables.len());
    for table in &schema.tables {
        views.push(ViewSql {
            name: table.view_name().to_string(),
            view: view_sql(table),
            delete: delete_trigger_sql(table)?,
            insert: insert_trigger_sql(table)?,
            update: update_trigger_sql(table)?,
        });
    }
    // A savepoint makes the DDL all-or-nothing even if the caller keeps its transaction open
    // after an error (e.g. a name clash with an app-owned table).
    conn.execute_batch("SAVEPOINT powersync_replace_schema")?;
    let applied = update_tables(conn, schema)
        .and_then(|()| update_indexes(conn, schema))
        .and_then(|()| update_views(conn, views));
    match applied {
        Ok(()) => {
            conn.execute_batch("RELEASE powersync_replace_schema")?;
            Ok(())
        }
        Err(e) => {
            conn.execute_batch(
                "ROLLBACK TO powersync_replace_schema; RELEASE powersync_replace_schema",
            )?;
            Err(e)
        }
    }
}

fn exec(conn: &Connection, sql: &str) -> Result<()> {
    if !sql.is_empty() {
        conn.execute_batch(sql)?;
    }
    Ok(())
}

fn update_tables(conn: &Connection, schema: &Schema) -> Result<()> {
    // name -> (storage table, local_only)
    let mut existing: BTreeMap<String, (String, bool)> = BTreeMap::new();
    {
        let mut stmt = conn.prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'ps_data_*'",
        )?;
        let names = stmt.query_map([], |r| r.get::<_, String>(0))?;
        for internal in names {
            let internal = internal?;
            let parsed = if let Some(n) = internal.strip_prefix("ps_data_local__") {
                Some((n.to_string(), true))
            } else {
                internal
                    .strip_prefix("ps_data__")
                    .map(|n| (n.to_string(), false))
            };
            if let Some((name, local)) = parsed {
                existing.insert(name, (internal, local));
            }
        }
    }

    for table in &schema.tables {
        if let Some(found) = existing.remove(&table.name) {
            if found.1 == table.local_only {
                continue; // compatible storage already exists
            }
            // The local-only flag flipped: create the new table now, drop the old one below.
            existing.insert(table.name.clone(), found);
        }
        let storage = quote_identifier(&table.internal_name());
        conn.execute_batch(&format!(
            "CREATE TABLE {storage}(id TEXT PRIMARY KEY NOT NULL, data TEXT)"
        ))?;
        if !table.local_only {
            conn.execute(
                &format!(
                    "INSERT INTO {storage}(id, data) SELECT id, data FROM ps_untyped WHERE type = ?"
                ),
                [&table.name],
            )?;
            conn.execute("DELETE FROM ps_untyped WHERE type = ?", [&table.name])?;
        }
    }

    for (name, (internal, local_only)) in &existing {
        if !local_only {
            conn.execute(
                &format!(
                    "INSERT INTO ps_untyped(type, id, data) SELECT ?, id, data FROM {}",
                    quote_identifier(internal)
                ),
                [name],
            )?;
        }
    }
    for (internal, _) in existing.values() {
        conn.execute_batch(&format!("DROP TABLE {}", quote_identifier(internal)))?;
    }
    Ok(())
}

fn update_indexes(conn: &Connection, schema: &Schema) -> Result<()> {
    let mut statements = Vec::new();
    let mut expected = Vec::new();
    {
        let mut find =
            conn.prepare("SELECT sql FROM sqlite_master WHERE name = ? AND type = 'index'")?;
        for table in &schema.tables {
            let storage = table.internal_name();
            for index in &table.indexes {
                let index_name = format!("{storage}__{}", index.name);
                let existing: Option<Option<String>> =
                    find.query_row([&index_name], |r| r.get(0)).optional()?;
                let sql = create_index_sql(&storage, &index_name, index);
                match existing {
                    None => statements.push(sql),
                    Some(found) if found.as_deref() == Some(sql.as_str()) => {}
                    Some(_) => {
                        statements.push(format!("DROP INDEX {}", quote_identifier(&index_name)));
                        statements.push(sql);
                    }
                }
                expected.push(index_name);
            }
        }
        let mut stale = conn.prepare(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name GLOB 'ps_data_*' \
             AND name NOT IN (SELECT value FROM json_each(?))",
        )?;
        let expected_json = serde_json::to_string(&expected)?;
        let names = stale.query_map([expected_json], |r| r.get::<_, String>(0))?;
        for name in names {
            statements.push(format!("DROP INDEX {}", quote_identifier(&name?)));
        }
    }
    for sql in statements {
        conn.execute_batch(&sql)?;
    }
    Ok(())
}

#[derive(PartialEq, Debug)]
struct ViewSql {
    name: String,
    view: String,
    delete: String,
    insert: String,
    update: String,
}

fn update_views(conn: &Connection, wanted: Vec<ViewSql>) -> Result<()> {
    let mut existing: BTreeMap<String, ViewSql> = BTreeMap::new();
    {
        // Delete triggers are concatenated in descending name order, which puts
        // `ps_view_delete_<V>` before `ps_view_delete2_<V>`, matching the generated text.
        let mut stmt = conn.prepare(
            "SELECT view.name, view.sql,
                ifnull(group_concat(t1.sql, ';\n' ORDER BY t1.name DESC), ''),
                ifnull(t2.sql, ''), ifnull(t3.sql, '')
             FROM sqlite_master view
             LEFT JOIN sqlite_master t1 ON t1.tbl_name = view.name AND t1.type = 'trigger'
                AND t1.name GLOB 'ps_view_delete*'
             LEFT JOIN sqlite_master t2 ON t2.tbl_name = view.name AND t2.type = 'trigger'
                AND t2.name GLOB 'ps_view_insert*'
             LEFT JOIN sqlite_master t3 ON t3.tbl_name = view.name AND t3.type = 'trigger'
                AND t3.name GLOB 'ps_view_update*'
             WHERE view.type = 'view' AND view.sql GLOB '*-- powersync-auto-generated'
             GROUP BY view.name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ViewSql {
                name: r.get(0)?,
                view: r.get(1)?,
                delete: r.get(2)?,
                insert: r.get(3)?,
                update: r.get(4)?,
            })
        })?;
        for row in rows {
            let row = row?;
            existing.insert(row.name.clone(), row);
        }
    }
    for view in wanted {
        if existing
            .remove(&view.name)
            .is_some_and(|found| found == view)
        {
            continue; // identical definition: leave it (schema_version unchanged)
        }
        conn.execute_batch(&format!(
            "DROP VIEW IF EXISTS {}",
            quote_identifier(&view.name)
        ))?;
        exec(conn, &view.view)?;
        exec(conn, &view.delete)?;
        exec(conn, &view.insert)?;
        exec(conn, &view.update)?;
    }
    for name in existing.keys() {
        conn.execute_batch(&format!("DROP VIEW IF EXISTS {}", quote_identifier(name)))?;
    }
    Ok(())
}
