// SPDX-License-Identifier: Apache-2.0
//! The real PowerSync SQLite cores, loaded into rusqlite for differential tests: 0.5.3 (the
//! reference) and the legacy 0.4.12 (for the fixtures).
//!
//! A core is found through an environment variable (`PSYNC_REFERENCE_CORE`,
//! `PSYNC_LEGACY_CORE`), which `cargo xtask test` sets after caching the libraries from their
//! npm packages under `$HOME/.cache/psync/reference/`, or at that cache location.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

/// Environment variable naming the reference core's shared library.
pub const REFERENCE_ENV: &str = "PSYNC_REFERENCE_CORE";
/// Environment variable naming the legacy core 0.4.12 (only the fixture check needs it).
pub const LEGACY_ENV: &str = "PSYNC_LEGACY_CORE";

/// Entry point of the reference core's loadable extension.
const REFERENCE_ENTRY_POINT: &str = "sqlite3_powersync_init";

/// Where `cargo xtask` caches core `version`.
fn cached_core_path(version: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    Some(
        PathBuf::from(home)
            .join(".cache/psync/reference")
            .join(version)
            .join("libpowersync_x64.linux.so"),
    )
}

/// Path of the reference core library, or an explanation of how to get it.
///
/// Prefers `PSYNC_REFERENCE_CORE`; falls back to the xtask cache location so that
/// `cargo test` works after one `cargo xtask test`.
pub fn reference_core_path() -> Result<PathBuf, String> {
    core_path(REFERENCE_ENV, "0.5.3")
}

/// Path of the legacy core 0.4.12 (`PSYNC_LEGACY_CORE`, else the xtask cache).
pub fn legacy_core_path() -> Result<PathBuf, String> {
    core_path(LEGACY_ENV, "0.4.12")
}

fn core_path(env: &str, version: &str) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(env) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        return Err(format!(
            "{env}={} does not exist; run `cargo xtask test` to download the core",
            path.display()
        ));
    }
    match cached_core_path(version) {
        Some(path) if path.is_file() => Ok(path),
        _ => Err(format!(
            "the PowerSync core {version} is missing ({env} unset and nothing cached under \
             ~/.cache/psync/reference); run `cargo xtask test` to download it"
        )),
    }
}

/// Path of the reference core; panics with instructions when it is missing.
///
/// For tests only: a missing reference is a setup error that must fail loudly, never skip.
pub fn require_reference_core() -> PathBuf {
    match reference_core_path() {
        Ok(path) => path,
        Err(message) => panic!("{message}"),
    }
}

/// Opens (creating if needed) the SQLite database at `path` with the reference core loaded.
///
/// Pass `":memory:"` for an in-memory database. The core is loaded per connection, like the
/// SDKs do with `sqlite3_powersync_init`.
pub fn open_reference(path: impl AsRef<Path>) -> rusqlite::Result<Connection> {
    let library = reference_core_path().map_err(|message| {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(message),
        )
    })?;
    let conn = Connection::open(path)?;
    load_reference_into(&conn, &library)?;
    Ok(conn)
}

/// Loads the reference core library into an already open connection.
pub fn load_reference_into(conn: &Connection, library: &Path) -> rusqlite::Result<()> {
    // SAFETY: the library is the PowerSync core 0.5.3 shipped by the official npm package,
    // a well-formed SQLite extension whose init function only registers functions, vtabs and
    // hooks on this connection. Extension loading is enabled only for the duration of this
    // call (the guard disables it again), so SQL cannot load arbitrary libraries later.
    unsafe {
        let _guard = rusqlite::LoadExtensionGuard::new(conn)?;
        conn.load_extension(library, Some(REFERENCE_ENTRY_POINT))
    }
}

/// One `sqlite_master` row: `(type, name, tbl_name, sql)`.
pub type MasterRow = (String, String, String, Option<String>);

/// The `sqlite_master` rows the reference core creates for `schema_json` on a fresh
/// in-memory database (`powersync_init` + `powersync_replace_schema`), sorted by type and name.
pub fn reference_sqlite_master_for_schema(schema_json: &str) -> rusqlite::Result<Vec<MasterRow>> {
    let mut conn = open_reference(":memory:")?;
    let tx = conn.transaction()?;
    tx.query_row("SELECT powersync_init()", [], |_| Ok(()))?;
    tx.query_row("SELECT powersync_replace_schema(?)", [schema_json], |_| {
        Ok(())
    })?;
    tx.commit()?;
    let mut statement =
        conn.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")?;
    let rows = statement.query_map([], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
    })?;
    rows.collect()
}
