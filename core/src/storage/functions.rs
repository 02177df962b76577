// SPDX-License-Identifier: Apache-2.0
//! Helpers the storage modules use to define SQL functions.
//!
//! [`create_function`] is a small wrapper over
//! `sqlite3_create_function_v2` for functions that need to report a specific SQLite error code
//! (rusqlite's own wrapper always reports `SQLITE_ERROR` once a message is set).

use std::ffi::{CString, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use rusqlite::{Connection, ffi};

use crate::value::Value;
use crate::{Error, ErrorKind, Result};

/// Fails with `SQLITE_MISUSE` unless `conn` is inside an explicit transaction, as every
/// mutating management function requires.
pub fn require_transaction(conn: &Connection, function_name: &str) -> Result<()> {
    if conn.is_autocommit() {
        return Err(misuse(format!(
            "{function_name}: This function may only be called in transactions."
        )));
    }
    Ok(())
}

/// An error that SQL functions report as `SQLITE_MISUSE` with `message`.
pub fn misuse(message: String) -> Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_MISUSE), Some(message)).into()
}

/// Converts a core error into an error an SQL function can report, keeping SQLite codes.
pub(crate) fn to_rusqlite_error(e: Error) -> rusqlite::Error {
    match e.into_kind() {
        ErrorKind::Sqlite(e) => e,
        kind => rusqlite::Error::UserFunctionError(Box::new(Error::from(kind))),
    }
}

/// SQLite's CONSTRAINT_DATATYPE extended code, which the reference core uses for bad arguments
/// (checkpoint request ids, sync commands) and for clearing while a sync iteration is active.
pub const SQLITE_CONSTRAINT_DATATYPE: c_int = 3091;

/// An error SQL functions report with code 3091 (CONSTRAINT_DATATYPE) and `message`.
pub fn constraint_datatype(message: &str) -> Error {
    rusqlite::Error::SqliteFailure(
        ffi::Error::new(SQLITE_CONSTRAINT_DATATYPE),
        Some(message.to_string()),
    )
    .into()
}

/// Whether a function's result depends only on its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Determinism {
    /// Same arguments, same result; SQLite may factor calls out.
    Deterministic,
    /// Reads or changes state; SQLite calls it every time.
    Volatile,
}

struct FunctionData<F> {
    name: String,
    body: F,
}

/// Registers scalar function `name` taking `n_args` arguments (-1 = any number).
///
/// The body gets a non-owning handle to the calling connection (so it can run SQL on it) and
/// the arguments. Errors are reported to SQLite with their own code when they came from
/// SQLite (e.g. [`misuse`]), otherwise as `SQLITE_ERROR` with the message `"<name>: <error>"`.
/// A panic in the body becomes an SQL error instead of unwinding through SQLite.
pub fn create_function<F>(
    conn: &Connection,
    name: &str,
    n_args: c_int,
    determinism: Determinism,
    body: F,
) -> Result<()>
where
    F: Fn(&Connection, &[Value]) -> Result<Value> + Send + Sync + 'static,
{
    let c_name = CString::new(name).map_err(|_| Error::invalid_argument("function name"))?;
    let mut flags = ffi::SQLITE_UTF8;
    if determinism == Determinism::Deterministic {
        flags |= ffi::SQLITE_DETERMINISTIC;
    }
    let data = Box::into_raw(Box::new(FunctionData {
        name: name.to_owned(),
        body,
    }));
    // SAFETY: `conn.handle()` is a live connection; `data` is a leaked box whose ownership
    // passes to SQLite, which frees it through `destroy_function::<F>` (also on failure).
    let rc = unsafe {
        ffi::sqlite3_create_function_v2(
            conn.handle(),
            c_name.as_ptr(),
            n_args,
            flags,
            data.cast::<c_void>(),
            Some(call_function::<F>),
            None,
            None,
            Some(destroy_function::<F>),
        )
    };
    if rc != ffi::SQLITE_OK {
        return Err(rusqlite::Error::SqliteFailure(ffi::Error::new(rc), None).into());
    }
    Ok(())
}

unsafe extern "C" fn destroy_function<F>(data: *mut c_void) {
    // SAFETY: `data` is the box leaked in `create_function::<F>`; SQLite calls this once.
    drop(unsafe { Box::from_raw(data.cast::<FunctionData<F>>()) });
}

unsafe extern "C" fn call_function<F>(
    ctx: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) where
    F: Fn(&Connection, &[Value]) -> Result<Value>,
{
    // SAFETY: SQLite passes the user data registered in `create_function::<F>`, which lives
    // until `destroy_function` runs, and `argc` valid value pointers.
    let data = unsafe { &*ffi::sqlite3_user_data(ctx).cast::<FunctionData<F>>() };
    let args: Vec<Value> = (0..usize::try_from(argc).unwrap_or(0))
        // SAFETY: index is below argc.
        .map(|i| unsafe { value_from_raw(*argv.add(i)) })
        .collect();
    // SAFETY: the handle belongs to the connection running this function; the wrapper does
    // not close it when dropped.
    let db = unsafe { ffi::sqlite3_context_db_handle(ctx) };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: see above; the non-owning wrapper lives only for this call.
        let conn = unsafe { Connection::from_handle(db) }?;
        (data.body)(&conn, &args)
    }));
    // SAFETY: `ctx` is the live context of this call.
    unsafe {
        match outcome {
            Ok(Ok(value)) => set_result(ctx, &value),
            Ok(Err(error)) => set_error(ctx, &data.name, &error),
            Err(_) => set_error(
                ctx,
                &data.name,
                &Error::state("internal error: the function panicked"),
            ),
        }
    }
}

unsafe fn value_from_raw(value: *mut ffi::sqlite3_value) -> Value {
    // SAFETY (whole fn): `value` is a valid protected value for the duration of the call;
    // text/blob pointers are valid for the byte lengths SQLite reports.
    unsafe {
        match ffi::sqlite3_value_type(value) {
            ffi::SQLITE_INTEGER => Value::Integer(ffi::sqlite3_value_int64(value)),
            ffi::SQLITE_FLOAT => Value::Real(ffi::sqlite3_value_double(value)),
            ffi::SQLITE_TEXT => {
                let ptr = ffi::sqlite3_value_text(value);
                let len = usize::try_from(ffi::sqlite3_value_bytes(value)).unwrap_or(0);
                if ptr.is_null() {
                    Value::Text(String::new())
                } else {
                    let bytes = std::slice::from_raw_parts(ptr, len);
                    Value::Text(String::from_utf8_lossy(bytes).into_owned())
                }
            }
            ffi::SQLITE_BLOB => {
                let ptr = ffi::sqlite3_value_blob(value).cast::<u8>();
                let len = usize::try_from(ffi::sqlite3_value_bytes(value)).unwrap_or(0);
                if ptr.is_null() {
                    Value::Blob(Vec::new())
                } else {
                    Value::Blob(std::slice::from_raw_parts(ptr, len).to_vec())
                }
            }
            _ => Value::Null,
        }
    }
}

unsafe fn set_result(ctx: *mut ffi::sqlite3_context, value: &Value) {
    // SAFETY (whole fn): `ctx` is live; SQLITE_TRANSIENT makes SQLite copy the bytes.
    unsafe {
        match value {
            Value::Null => ffi::sqlite3_result_null(ctx),
            Value::Integer(i) => ffi::sqlite3_result_int64(ctx, *i),
            Value::Real(f) => ffi::sqlite3_result_double(ctx, *f),
            Value::Text(s) => ffi::sqlite3_result_text64(
                ctx,
                s.as_ptr().cast(),
                s.len() as u64,
                ffi::SQLITE_TRANSIENT(),
                ffi::SQLITE_UTF8 as u8,
            ),
            Value::Blob(b) => ffi::sqlite3_result_blob64(
                ctx,
                b.as_ptr().cast(),
                b.len() as u64,
                ffi::SQLITE_TRANSIENT(),
            ),
        }
    }
}

unsafe fn set_error(ctx: *mut ffi::sqlite3_context, function_name: &str, error: &Error) {
    let (code, message) = match error.kind() {
        ErrorKind::Sqlite(rusqlite::Error::SqliteFailure(e, Some(message))) => {
            (e.extended_code, message.clone())
        }
        ErrorKind::Sqlite(rusqlite::Error::SqliteFailure(e, None)) => {
            (e.extended_code, format!("{function_name}: {e}"))
        }
        _ => (ffi::SQLITE_ERROR, format!("{function_name}: {error}")),
    };
    let message = CString::new(message.replace('\0', " ")).unwrap_or_default();
    // SAFETY: `ctx` is live. The message must be set before the code, because
    // sqlite3_result_error resets the code to SQLITE_ERROR.
    unsafe {
        ffi::sqlite3_result_error(ctx, message.as_ptr(), -1);
        ffi::sqlite3_result_error_code(ctx, code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn_with_test_functions() -> Connection {
        let conn = Connection::open_in_memory().expect("open");
        create_function(&conn, "echo", 1, Determinism::Deterministic, |_, args| {
            Ok(args.first().cloned().unwrap_or(Value::Null))
        })
        .expect("echo");
        create_function(&conn, "explode", 0, Determinism::Volatile, |_, _| {
            panic!("deliberate");
        })
        .expect("explode");
        create_function(&conn, "fails", 0, Determinism::Volatile, |_, _| {
            Err(Error::invalid_argument("bad input"))
        })
        .expect("fails");
        create_function(
            &conn,
            "count_tables",
            0,
            Determinism::Volatile,
            |conn, _| {
                let n: i64 =
                    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
                Ok(Value::Integer(n))
            },
        )
        .expect("count_tables");
        conn
    }

    #[test]
    fn values_pass_through_unchanged() {
        let conn = conn_with_test_functions();
        for value in [
            Value::Null,
            Value::Integer(-7),
            Value::Real(0.5),
            Value::Text("tëxt".into()),
            Value::Blob(vec![0, 1, 255]),
        ] {
            let back: Value = conn
                .query_row("SELECT echo(?1)", [&value], |r| r.get(0))
                .expect("echo");
            assert_eq!(back, value);
        }
    }

    #[test]
    fn panics_become_sql_errors() {
        let conn = conn_with_test_functions();
        let err = conn
            .query_row("SELECT explode()", [], |r| r.get::<_, Value>(0))
            .expect_err("must fail");
        assert!(err.to_string().contains("explode: internal error"), "{err}");
        // The connection keeps working.
        let one: i64 = conn
            .query_row("SELECT 1", [], |r| r.get(0))
            .expect("select");
        assert_eq!(one, 1);
    }

    #[test]
    fn errors_name_the_function() {
        let conn = conn_with_test_functions();
        let err = conn
            .query_row("SELECT fails()", [], |r| r.get::<_, Value>(0))
            .expect_err("must fail");
        assert!(
            err.to_string()
                .contains("fails: invalid argument: bad input"),
            "{err}"
        );
    }

    #[test]
    fn functions_can_query_their_connection() {
        let conn = conn_with_test_functions();
        conn.execute_batch("CREATE TABLE a(x); CREATE TABLE b(x);")
            .expect("create");
        let n: i64 = conn
            .query_row("SELECT count_tables()", [], |r| r.get(0))
            .expect("call");
        assert_eq!(n, 2);
    }

    #[test]
    fn misuse_keeps_its_code() {
        let conn = Connection::open_in_memory().expect("open");
        create_function(&conn, "needs_tx", 0, Determinism::Volatile, |conn, _| {
            require_transaction(conn, "needs_tx")?;
            Ok(Value::Null)
        })
        .expect("register");
        let err = conn
            .query_row("SELECT needs_tx()", [], |r| r.get::<_, Value>(0))
            .expect_err("autocommit");
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ApiMisuse)
        );
        conn.execute_batch("BEGIN; SELECT needs_tx(); COMMIT;")
            .expect("in a transaction");
    }
}
