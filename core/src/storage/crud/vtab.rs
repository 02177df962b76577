// SPDX-License-Identifier: Apache-2.0
//! The insert-only CRUD virtual tables `powersync_crud` and `powersync_crud_` (storage.md §3.3).
//!
//! SQLite calls `xBegin` on a virtual table the first time a transaction writes to it, and
//! `xCommit`/`xRollback` when it ends; that is where a transaction id is taken from `ps_tx`. Both
//! tables of a connection share one [`CrudConnectionState`], so a transaction writing to both
//! takes a single id: whichever table sees the transaction first allocates it and clears it again
//! at commit/rollback. A rollback also undoes the `ps_tx` increment, so the id is handed out again.

use std::borrow::Cow;
use std::ffi::{CStr, c_int};
use std::marker::PhantomData;
use std::sync::Arc;

use rusqlite::types::{Value, ValueRef};
use rusqlite::vtab::{
    Context, CreateVTab, Filters, IndexInfo, Inserts, Module, TransactionVTab, UpdateVTab, Updates,
    VTab, VTabConnection, VTabCursor, VTabKind, sqlite3_vtab, sqlite3_vtab_cursor,
};
use rusqlite::{Connection, ffi};
use serde::Serialize;
use serde_json::value::RawValue;

use super::CrudConnectionState;
use crate::storage::gate::{LAST_APPLIED_KEY, LAST_SEEN_KEY, MAX_OP_ID, TARGET_KEY};
use crate::storage::schema::FLAG_IGNORE_EMPTY_UPDATE;

const SIMPLE_SCHEMA: &CStr = c"CREATE TABLE powersync_crud(op TEXT, id TEXT, type TEXT, data TEXT, old_values TEXT, metadata TEXT, options INT HIDDEN)";
const MANUAL_SCHEMA: &CStr = c"CREATE TABLE powersync_crud_(data TEXT, options INT HIDDEN)";

/// Takes the next local transaction id.
pub(crate) const NEXT_TX_SQL: &str =
    "UPDATE ps_tx SET next_tx = next_tx + 1 WHERE id = 1 RETURNING next_tx";
pub(crate) const RECLAIM_TX_SQL: &str =
    "UPDATE ps_tx SET next_tx = ?1 + 1 WHERE id = 1 AND next_tx <= ?1";
pub(crate) const INSERT_CRUD_SQL: &str = "INSERT INTO ps_crud(tx_id, data) VALUES (?, ?)";
/// `powersync_crud_` insert; flag 16 drops empty PATCHes.
pub(crate) const INSERT_MANUAL_CRUD_SQL: &str = "WITH insertion (tx_id, data) AS (VALUES (?1, ?2))
 INSERT INTO ps_crud(tx_id, data) SELECT * FROM insertion
 WHERE (NOT (?3 & 16)) OR data->>'op' != 'PATCH' OR data->'data' != '{}'";

const SIMPLE_MODULE: Module<'static, SimpleCrudTable> = Module::update_module_with_tx();
const MANUAL_MODULE: Module<'static, ManualCrudTable> = Module::update_module_with_tx();

pub(super) fn register(conn: &Connection, state: Arc<CrudConnectionState>) -> rusqlite::Result<()> {
    conn.create_module(c"powersync_crud", &SIMPLE_MODULE, Some(state.clone()))?;
    conn.create_module(c"powersync_crud_", &MANUAL_MODULE, Some(state))?;
    Ok(())
}

/// What both tables share: a handle to run SQL on their own connection and the tx bookkeeping.
struct CrudTableCore {
    /// A non-owning handle on the connection that owns this virtual table.
    conn: Connection,
    state: Arc<CrudConnectionState>,
    tx_id: Option<i64>,
    /// Whether this table allocated `tx_id` (and so must release it at commit/rollback).
    allocated_tx: bool,
}

impl CrudTableCore {
    fn connect(
        db: &mut VTabConnection,
        aux: Option<&Arc<CrudConnectionState>>,
    ) -> rusqlite::Result<Self> {
        let state = aux
            .cloned()
            .ok_or_else(|| rusqlite::Error::ModuleError("missing CRUD state".into()))?;
        // SAFETY: `from_handle` creates a non-owning connection (it never closes the handle). The
        // virtual table is disconnected before its owning connection closes, so the handle
        // outlives this wrapper; it is only used from within SQLite callbacks of that connection.
        let conn = unsafe { Connection::from_handle(db.handle())? };
        Ok(Self {
            conn,
            state,
            tx_id: None,
            allocated_tx: false,
        })
    }

    fn begin(&mut self) -> rusqlite::Result<()> {
        let mut current = self.state.current_tx.lock();
        if let Some(existing) = *current {
            self.tx_id = Some(existing);
            self.allocated_tx = false;
            return Ok(());
        }
        let next: i64 = self
            .conn
            .prepare_cached(NEXT_TX_SQL)?
            .query_row([], |r| r.get(0))?;
        let tx_id = next - 1;
        *current = Some(tx_id);
        self.tx_id = Some(tx_id);
        self.allocated_tx = true;
        Ok(())
    }

    fn end(&mut self) {
        if self.tx_id.take().is_some() && self.allocated_tx {
            *self.state.current_tx.lock() = None;
        }
        self.allocated_tx = false;
    }

    fn tx_id(&self) -> rusqlite::Result<i64> {
        self.tx_id
            .ok_or_else(|| rusqlite::Error::ModuleError("CRUD write outside a transaction".into()))
    }

    /// Re-takes the transaction id if a `ROLLBACK TO <savepoint>` undid its `ps_tx` increment
    /// (SQLite does not tell version-1 vtabs about savepoints). Without this the next
    /// transaction would get the same id. Returns whether the id had to be re-taken, in which
    /// case the gate update of this transaction was rolled back too.
    fn reclaim_tx_id(&self, tx_id: i64) -> rusqlite::Result<bool> {
        let changed = self.conn.prepare_cached(RECLAIM_TX_SQL)?.execute([tx_id])?;
        Ok(changed > 0)
    }
}

fn misuse(what: &str) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_MISUSE), Some(what.to_string()))
}

fn text(value: &Value) -> Option<&str> {
    match value {
        Value::Text(t) => Some(t),
        _ => None,
    }
}

fn flags(value: &Value) -> u32 {
    match value {
        Value::Integer(i) => *i as u32,
        _ => 0,
    }
}

fn json_arg<'a>(value: &'a Value, what: &str) -> rusqlite::Result<Option<&'a RawValue>> {
    match text(value) {
        None => Ok(None),
        Some(t) => serde_json::from_str::<&RawValue>(t).map(Some).map_err(|_| {
            rusqlite::Error::ModuleError(format!("powersync_crud: {what} is not valid JSON"))
        }),
    }
}

/// `powersync_crud(op, id, type, data, old_values, metadata, options HIDDEN)`.
#[repr(C)]
pub(super) struct SimpleCrudTable {
    base: sqlite3_vtab,
    core: CrudTableCore,
    /// The gate update of storage.md §1.8 already ran in this transaction.
    gate_updated: bool,
}

/// `powersync_crud_(data, options HIDDEN)`.
#[repr(C)]
pub(super) struct ManualCrudTable {
    base: sqlite3_vtab,
    core: CrudTableCore,
}

#[derive(Serialize)]
struct CrudData<'a> {
    op: &'a str,
    id: &'a str,
    #[serde(rename = "type")]
    row_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    old: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a str>,
}

impl SimpleCrudTable {
    fn handle_insert(&mut self, values: &[Value]) -> rusqlite::Result<()> {
        let tx_id = self.core.tx_id()?;
        if self.core.state.in_sync_operation() {
            return Ok(());
        }
        if self.core.reclaim_tx_id(tx_id)? {
            self.gate_updated = false;
        }
        let get = |i: usize| values.get(i).unwrap_or(&Value::Null);
        let op = text(get(0)).ok_or_else(|| {
            rusqlite::Error::ModuleError("powersync_crud: op must be text".into())
        })?;
        let id_text = match get(1) {
            Value::Text(t) => t.clone(),
            Value::Integer(i) => i.to_string(),
            _ => {
                return Err(rusqlite::Error::ModuleError(
                    "powersync_crud: id must be text".into(),
                ));
            }
        };
        let id = id_text.as_str();
        let row_type = text(get(2)).ok_or_else(|| {
            rusqlite::Error::ModuleError("powersync_crud: type must be text".into())
        })?;
        let data = json_arg(get(3), "data")?;
        if flags(get(6)) & FLAG_IGNORE_EMPTY_UPDATE != 0
            && op == "PATCH"
            && data.map(RawValue::get) == Some("{}")
        {
            return Ok(());
        }
        let entry = CrudData {
            op,
            id,
            row_type,
            data,
            old: json_arg(get(4), "old_values")?,
            metadata: text(get(5)),
        };
        let json = serde_json::to_string(&entry)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        let conn = &self.core.conn;
        conn.prepare_cached(INSERT_CRUD_SQL)?
            .execute(rusqlite::params![tx_id, json])?;
        conn.prepare_cached(crate::storage::sync::storage::MARK_ROW_SQL)?
            .execute([row_type, id])?;
        if !self.gate_updated {
            conn.execute_batch(&format!(
                "INSERT OR REPLACE INTO ps_kv(key, value) VALUES ('{TARGET_KEY}', {MAX_OP_ID});
                 DELETE FROM ps_kv WHERE key IN ('{LAST_SEEN_KEY}', '{LAST_APPLIED_KEY}');"
            ))?;
            self.gate_updated = true;
        }
        Ok(())
    }
}

impl ManualCrudTable {
    fn handle_insert(&mut self, values: &[Value]) -> rusqlite::Result<()> {
        let tx_id = self.core.tx_id()?;
        if self.core.state.in_sync_operation() {
            return Ok(());
        }
        self.core.reclaim_tx_id(tx_id)?;
        let data = values.first().and_then(text).ok_or_else(|| {
            rusqlite::Error::ModuleError("powersync_crud_: data must be JSON text".into())
        })?;
        let options = values.get(1).map(flags).unwrap_or(0);
        self.core
            .conn
            .prepare_cached(INSERT_MANUAL_CRUD_SQL)?
            .execute(rusqlite::params![tx_id, data, options])?;
        Ok(())
    }
}

fn insert_values(args: &Inserts<'_>) -> rusqlite::Result<Vec<Value>> {
    // args[0] is the old rowid (NULL), args[1] the new rowid; the columns follow.
    (2..args.len()).map(|i| args.get::<Value>(i)).collect()
}

macro_rules! crud_vtab_impl {
    ($table:ty, $schema:expr, $init:expr) => {
        // SAFETY: the struct is #[repr(C)] with `sqlite3_vtab` as its first field.
        unsafe impl<'vtab> VTab<'vtab> for $table {
            type Aux = Arc<CrudConnectionState>;
            type Cursor = EmptyCursor<'vtab>;

            fn connect(
                db: &mut VTabConnection,
                aux: Option<&Self::Aux>,
                _module_name: &[u8],
                _database_name: &[u8],
                _table_name: &[u8],
                _args: &[&[u8]],
            ) -> rusqlite::Result<(Cow<'static, CStr>, Self)> {
                let core = CrudTableCore::connect(db, aux)?;
                Ok((Cow::Borrowed($schema), $init(core)))
            }

            fn best_index(&self, info: &mut IndexInfo) -> rusqlite::Result<bool> {
                info.set_estimated_cost(1e9);
                Ok(true)
            }

            fn open(&'vtab mut self) -> rusqlite::Result<Self::Cursor> {
                Ok(EmptyCursor {
                    base: sqlite3_vtab_cursor::default(),
                    phantom: PhantomData,
                })
            }
        }

        impl CreateVTab<'_> for $table {
            const KIND: VTabKind = VTabKind::EponymousOnly;
        }

        impl UpdateVTab<'_> for $table {
            fn delete(&mut self, _arg: ValueRef<'_>) -> rusqlite::Result<()> {
                Err(misuse("CRUD virtual tables only support INSERT"))
            }

            fn insert(&mut self, args: &Inserts<'_>) -> rusqlite::Result<i64> {
                let values = insert_values(args)?;
                self.handle_insert(&values)?;
                Ok(0)
            }

            fn update(&mut self, _args: &Updates<'_>) -> rusqlite::Result<()> {
                Err(misuse("CRUD virtual tables only support INSERT"))
            }
        }
    };
}

crud_vtab_impl!(SimpleCrudTable, SIMPLE_SCHEMA, |core| SimpleCrudTable {
    base: sqlite3_vtab::default(),
    core,
    gate_updated: false,
});
crud_vtab_impl!(ManualCrudTable, MANUAL_SCHEMA, |core| ManualCrudTable {
    base: sqlite3_vtab::default(),
    core,
});

impl TransactionVTab<'_> for SimpleCrudTable {
    fn begin(&mut self) -> rusqlite::Result<()> {
        self.gate_updated = false;
        self.core.begin()
    }
    fn commit(&mut self) -> rusqlite::Result<()> {
        self.core.end();
        Ok(())
    }
    fn rollback(&mut self) -> rusqlite::Result<()> {
        self.core.end();
        Ok(())
    }
}

impl TransactionVTab<'_> for ManualCrudTable {
    fn begin(&mut self) -> rusqlite::Result<()> {
        self.core.begin()
    }
    fn commit(&mut self) -> rusqlite::Result<()> {
        self.core.end();
        Ok(())
    }
    fn rollback(&mut self) -> rusqlite::Result<()> {
        self.core.end();
        Ok(())
    }
}

/// Reading a CRUD vtab yields no rows.
#[repr(C)]
pub(super) struct EmptyCursor<'vtab> {
    base: sqlite3_vtab_cursor,
    phantom: PhantomData<&'vtab ()>,
}

// SAFETY: #[repr(C)] with `sqlite3_vtab_cursor` first.
unsafe impl VTabCursor for EmptyCursor<'_> {
    fn filter(
        &mut self,
        _idx_num: c_int,
        _idx_str: Option<&str>,
        _args: &Filters<'_>,
    ) -> rusqlite::Result<()> {
        Ok(())
    }
    fn next(&mut self) -> rusqlite::Result<()> {
        Ok(())
    }
    fn eof(&self) -> bool {
        true
    }
    fn column(&self, _ctx: &mut Context, _i: c_int) -> rusqlite::Result<()> {
        Ok(())
    }
    fn rowid(&self) -> rusqlite::Result<i64> {
        Ok(0)
    }
}
