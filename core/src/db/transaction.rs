// SPDX-License-Identifier: Apache-2.0
//! The transaction handed to [`Pool::write`](super::Pool::write) and
//! [`Pool::read`](super::Pool::read) closures, plus statement helpers shared with the
//! autocommit conveniences.

use rusqlite::Connection;

use crate::Result;
use crate::value::{Row, Value};

/// What an `INSERT`/`UPDATE`/`DELETE` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecuteResult {
    /// Rows changed by the statement (SQLite `changes()`).
    pub rows_affected: u64,
    /// The connection's last inserted rowid after the statement.
    pub last_insert_rowid: i64,
}

/// An open transaction on one connection. Committed when the closure returns `Ok`, rolled
/// back on `Err` or panic.
pub struct Transaction<'conn> {
    inner: rusqlite::Transaction<'conn>,
}

impl<'conn> Transaction<'conn> {
    pub(crate) fn new(inner: rusqlite::Transaction<'conn>) -> Self {
        Transaction { inner }
    }

    pub(crate) fn into_inner(self) -> rusqlite::Transaction<'conn> {
        self.inner
    }

    /// Runs one statement with positional parameters.
    pub fn execute(&self, sql: &str, params: &[Value]) -> Result<ExecuteResult> {
        execute_on(&self.inner, sql, params)
    }

    /// Runs one statement once for each parameter set, preparing it once.
    pub fn execute_batch(&self, sql: &str, param_sets: &[Vec<Value>]) -> Result<ExecuteResult> {
        execute_batch_on(&self.inner, sql, param_sets)
    }

    /// Runs several `;`-separated statements without parameters.
    pub fn execute_script(&self, sql: &str) -> Result<()> {
        Ok(self.inner.execute_batch(sql)?)
    }

    /// The first row of a query; an error if it returns none.
    pub fn get(&self, sql: &str, params: &[Value]) -> Result<Row> {
        get_on(&self.inner, sql, params)
    }

    /// Every row of a query.
    pub fn get_all(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        get_all_on(&self.inner, sql, params)
    }

    /// The first row of a query, if any.
    pub fn get_optional(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        get_optional_on(&self.inner, sql, params)
    }

    /// The underlying connection, for code that needs prepared statements or rusqlite
    /// features directly. Do not end the transaction through it.
    pub fn connection(&self) -> &Connection {
        &self.inner
    }
}

pub(crate) fn execute_on(conn: &Connection, sql: &str, params: &[Value]) -> Result<ExecuteResult> {
    let mut stmt = conn.prepare_cached(sql)?;
    let changed = stmt.execute(rusqlite::params_from_iter(params.iter()))?;
    Ok(ExecuteResult {
        rows_affected: changed as u64,
        last_insert_rowid: conn.last_insert_rowid(),
    })
}

/// [`Transaction::execute_batch`] on a connection already inside a transaction: rows affected
/// are summed, the rowid is the writer's after the last set.
pub(crate) fn execute_batch_on(
    conn: &Connection,
    sql: &str,
    param_sets: &[Vec<Value>],
) -> Result<ExecuteResult> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows_affected = 0u64;
    for params in param_sets {
        rows_affected += stmt.execute(rusqlite::params_from_iter(params.iter()))? as u64;
    }
    Ok(ExecuteResult {
        rows_affected,
        last_insert_rowid: conn.last_insert_rowid(),
    })
}

pub(crate) fn get_all_on(conn: &Connection, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    Ok(Row::collect_all(rows)?)
}

pub(crate) fn get_optional_on(
    conn: &Connection,
    sql: &str,
    params: &[Value],
) -> Result<Option<Row>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    Ok(Row::collect_first(rows)?)
}

pub(crate) fn get_on(conn: &Connection, sql: &str, params: &[Value]) -> Result<Row> {
    get_optional_on(conn, sql, params)?.ok_or_else(|| rusqlite::Error::QueryReturnedNoRows.into())
}
