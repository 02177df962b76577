// SPDX-License-Identifier: Apache-2.0
//! `ps_kv`: typed key access, the client id and the SQL functions `powersync_client_id()` and
//! `uuid()` (storage.md §1.8). The checkpoint-request keys live in [`super::gate`].

use rusqlite::{Connection, OptionalExtension, ffi};

use crate::storage::functions::{self, Determinism};
use crate::value::Value;
use crate::{Error, Result};

/// Key of this database's stable client id.
pub const CLIENT_ID_KEY: &str = "client_id";
pub(crate) const GET_INTEGER_SQL: &str = "SELECT CAST(value AS INTEGER) FROM ps_kv WHERE key = ?";
pub(crate) const GET_TEXT_SQL: &str = "SELECT value FROM ps_kv WHERE key = ?";
pub(crate) const SET_SQL: &str = "INSERT OR REPLACE INTO ps_kv(key, value) VALUES (?, ?)";
pub(crate) const DELETE_SQL: &str = "DELETE FROM ps_kv WHERE key = ?";
/// Reads an integer key; `None` when absent or NULL.
pub fn get_i64(conn: &Connection, key: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(GET_INTEGER_SQL)?
        .query_row([key], |r| r.get::<_, Option<i64>>(0))
        .optional()?
        .flatten())
}

/// Writes an integer key, or deletes it when `value` is `None`.
pub fn set_i64(conn: &Connection, key: &str, value: Option<i64>) -> Result<()> {
    match value {
        Some(v) => conn
            .prepare_cached(SET_SQL)?
            .execute(rusqlite::params![key, v])?,
        None => conn.prepare_cached(DELETE_SQL)?.execute([key])?,
    };
    Ok(())
}

/// The database's client id; errors when migrations never created one.
pub fn client_id(conn: &Connection) -> Result<String> {
    conn.prepare_cached(GET_TEXT_SQL)?
        .query_row([CLIENT_ID_KEY], |r| r.get::<_, String>(0))
        .optional()?
        .ok_or_else(|| Error::storage("No client_id found in ps_kv"))
}

/// A random UUID v4 in its canonical lowercase text form.
pub fn uuid_v4() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::storage(format!("no randomness available: {e}")))?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// Registers the `ps_kv` SQL functions on `conn` (the gate registers its own).
pub fn register_functions(conn: &Connection) -> Result<()> {
    use rusqlite::functions::FunctionFlags;
    let flags = FunctionFlags::SQLITE_UTF8;
    register_client_id(conn)?;
    conn.create_scalar_function("uuid", 0, flags, |_| {
        uuid_v4().map_err(crate::storage::crud::to_sql_error)
    })?;
    Ok(())
}

/// `powersync_client_id()` reports a missing id as `SQLITE_ABORT` like the reference core, so
/// it goes through [`functions::create_function`] (rusqlite's wrapper would report SQLITE_ERROR).
fn register_client_id(conn: &Connection) -> Result<()> {
    functions::create_function(
        conn,
        "powersync_client_id",
        0,
        Determinism::Volatile,
        |conn, _| {
            let id = conn
                .prepare_cached(GET_TEXT_SQL)?
                .query_row([CLIENT_ID_KEY], |r| r.get::<_, String>(0))
                .optional()?;
            match id {
                Some(id) => Ok(Value::Text(id)),
                None => Err(rusqlite::Error::SqliteFailure(
                    ffi::Error::new(ffi::SQLITE_ABORT),
                    Some("No client_id found in ps_kv".to_owned()),
                )
                .into()),
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_is_v4_shaped() {
        let id = uuid_v4().expect("uuid");
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(id, uuid_v4().expect("uuid"));
    }
}
