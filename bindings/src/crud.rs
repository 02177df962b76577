// SPDX-License-Identifier: Apache-2.0
//! The upload queue: batches and transactions of local writes, completed after upload.

use std::collections::HashMap;
use std::sync::Arc;

use psync_core::Database as CoreDatabase;
use psync_core::storage::crud::{
    CrudBatch as CoreCrudBatch, CrudEntry as CoreCrudEntry, CrudTransaction as CoreCrudTransaction,
    UpdateType, UploadQueueStats,
};

use crate::blocking::off_thread;
use crate::error::Result;
use crate::value::Value;

/// The kind of a queued local write (core's own enum, exported as is).
#[uniffi::remote(Enum)]
pub enum UpdateType {
    /// Insert or replace the whole row.
    Put,
    /// Update some columns.
    Patch,
    /// Delete the row.
    Delete,
}

/// One queued local write.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CrudEntry {
    /// Position in the queue, increasing in write order.
    pub client_id: i64,
    /// Local transaction id, when the write was part of one.
    pub transaction_id: Option<i64>,
    /// What the write did.
    pub op: UpdateType,
    /// Table name (not the view name).
    pub table: String,
    /// Row id.
    pub id: String,
    /// Written columns as a JSON object: all non-null columns for `Put`, the changed ones
    /// for `Patch` (`null` = cleared), absent for `Delete`.
    pub data_json: Option<String>,
    /// Previous values as a JSON object, when the table tracks them.
    pub previous_values_json: Option<String>,
    /// `data_json` as typed values (column name to value), for hosts without a JSON parser
    /// at hand (Kotlin).
    pub data: Option<HashMap<String, Value>>,
    /// `previous_values_json` as typed values.
    pub previous_values: Option<HashMap<String, Value>>,
    /// Metadata, when the table tracks it.
    pub metadata: Option<String>,
}

impl From<CoreCrudEntry> for CrudEntry {
    fn from(entry: CoreCrudEntry) -> Self {
        // Serialising a JSON map cannot fail: keys are strings and values are JSON already.
        let json = |map: &Option<serde_json::Map<String, serde_json::Value>>| {
            map.as_ref()
                .map(|m| serde_json::Value::Object(m.clone()).to_string())
        };
        let typed = |map: Option<serde_json::Map<String, serde_json::Value>>| {
            map.map(|m| {
                m.into_iter()
                    .map(|(k, v)| (k, Value::from_json(v)))
                    .collect()
            })
        };
        CrudEntry {
            client_id: entry.client_id,
            transaction_id: entry.transaction_id,
            op: entry.op,
            table: entry.table,
            id: entry.id,
            data_json: json(&entry.data),
            previous_values_json: json(&entry.previous_values),
            data: typed(entry.data),
            previous_values: typed(entry.previous_values),
            metadata: entry.metadata,
        }
    }
}

/// Some queued writes, oldest first. Call `complete()` once they are uploaded.
#[derive(uniffi::Object)]
pub struct CrudBatch {
    db: CoreDatabase,
    inner: Arc<CoreCrudBatch>,
}

impl CrudBatch {
    pub(crate) fn new(db: CoreDatabase, inner: CoreCrudBatch) -> Self {
        CrudBatch {
            db,
            inner: Arc::new(inner),
        }
    }
}

#[psync_ffi_macros::export]
impl CrudBatch {
    /// The queued writes.
    pub fn entries(&self) -> Vec<CrudEntry> {
        self.inner.entries.iter().cloned().map(Into::into).collect()
    }

    /// More writes are queued after this batch.
    pub fn has_more(&self) -> bool {
        self.inner.has_more
    }

    /// Removes these writes from the queue. `write_checkpoint` is the checkpoint the
    /// backend returned for them, if any; local data is only replaced by synced data once
    /// the service reached it.
    pub async fn complete(&self, write_checkpoint: Option<i64>) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        off_thread(&self.db, move |db| {
            db.write(|tx| inner.complete(tx.connection(), write_checkpoint))
        })
        .await
    }
}

/// All queued writes of one local transaction. Call `complete()` once uploaded.
#[derive(uniffi::Object)]
pub struct CrudTransaction {
    db: CoreDatabase,
    inner: Arc<CoreCrudTransaction>,
}

impl CrudTransaction {
    pub(crate) fn new(db: CoreDatabase, inner: CoreCrudTransaction) -> Self {
        CrudTransaction {
            db,
            inner: Arc::new(inner),
        }
    }
}

#[psync_ffi_macros::export]
impl CrudTransaction {
    /// The local transaction id (absent for writes made outside a transaction).
    pub fn transaction_id(&self) -> Option<i64> {
        self.inner.transaction_id
    }

    /// The queued writes, oldest first.
    pub fn entries(&self) -> Vec<CrudEntry> {
        self.inner.entries.iter().cloned().map(Into::into).collect()
    }

    /// Removes these writes from the queue; see `CrudBatch.complete`.
    pub async fn complete(&self, write_checkpoint: Option<i64>) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        off_thread(&self.db, move |db| {
            db.write(|tx| inner.complete(tx.connection(), write_checkpoint))
        })
        .await
    }
}

/// Size of the upload queue (core's own record, exported as is).
#[uniffi::remote(Record)]
pub struct UploadQueueStats {
    /// Queued writes.
    pub count: u64,
    /// Bytes of their data (the JSON documents in `ps_crud`).
    pub size_bytes: u64,
}
