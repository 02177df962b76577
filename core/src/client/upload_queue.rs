// SPDX-License-Identifier: Apache-2.0
//! The upload queue as the app and its connector see it: batches and transactions to upload,
//! completing them, walking the queue without completing, and its size.

use futures_util::Stream;

use super::{SyncDatabase, blocking};
use crate::Result;
use crate::storage::crud::{CrudBatch, CrudTransaction, UploadQueueStats};

impl SyncDatabase {
    /// Up to `limit` queued local writes (for [`BackendConnector::upload_data`]).
    pub async fn get_crud_batch(&self, limit: usize) -> Result<Option<CrudBatch>> {
        blocking(&self.inner.db, move |db| {
            db.read(|tx| crate::storage::crud::get_crud_batch(tx.connection(), limit))
        })
        .await
    }

    /// The oldest queued local transaction (for [`BackendConnector::upload_data`]).
    pub async fn get_next_crud_transaction(&self) -> Result<Option<CrudTransaction>> {
        blocking(&self.inner.db, |db| {
            db.read(|tx| crate::storage::crud::get_next_crud_transaction(tx.connection()))
        })
        .await
    }

    /// Removes an uploaded transaction from the queue (`write_checkpoint` = a custom write
    /// checkpoint, usually `None`).
    pub async fn complete_transaction(
        &self,
        transaction: CrudTransaction,
        write_checkpoint: Option<i64>,
    ) -> Result<()> {
        blocking(&self.inner.db, move |db| {
            db.write(|tx| transaction.complete(tx.connection(), write_checkpoint))
        })
        .await
    }

    /// Removes an uploaded batch from the queue.
    pub async fn complete_batch(
        &self,
        batch: CrudBatch,
        write_checkpoint: Option<i64>,
    ) -> Result<()> {
        blocking(&self.inner.db, move |db| {
            db.write(|tx| batch.complete(tx.connection(), write_checkpoint))
        })
        .await
    }

    /// Every queued local transaction, oldest first, without completing any (Python's and
    /// Kotlin's `crud_transactions()`): each step reads the transaction after the previous
    /// one's last write, so writes queued while walking are included and completed ones that
    /// were already passed are not re-read.
    pub fn crud_transactions(&self) -> impl Stream<Item = Result<CrudTransaction>> + Send + use<> {
        let db = self.inner.db.clone();
        futures_util::stream::try_unfold(0_i64, move |after| {
            let db = db.clone();
            async move {
                let next = blocking(&db, move |db| {
                    db.read(|tx| {
                        crate::storage::crud::get_crud_transaction_after(tx.connection(), after)
                    })
                })
                .await?;
                // A transaction always has at least one write, so the walk moves forward.
                Ok(next.map(|transaction| {
                    let last = transaction.entries.last().map_or(after, |e| e.client_id);
                    (transaction, last)
                }))
            }
        })
    }

    /// How many writes are queued for upload, and the bytes of their data.
    pub async fn upload_queue_stats(&self) -> Result<UploadQueueStats> {
        blocking(&self.inner.db, |db| {
            db.read(|tx| crate::storage::crud::upload_queue_stats(tx.connection()))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use futures_util::TryStreamExt;

    use super::*;
    use crate::storage::schema::Schema;
    use crate::{Database, Value};

    fn items_db() -> SyncDatabase {
        let db = Database::open_in_memory().expect("open");
        let schema = r#"{"tables":[{"name":"items","columns":[{"name":"col","type":"text"}]}]}"#;
        db.update_schema(Schema::from_json(schema).expect("schema"))
            .expect("update schema");
        SyncDatabase::new(db)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    }

    /// Two writes in one transaction, then one on its own.
    fn queue_three_writes(db: &SyncDatabase) {
        db.database()
            .write(|tx| {
                tx.execute("INSERT INTO items(id, col) VALUES ('a', 'x')", &[])?;
                tx.execute("INSERT INTO items(id, col) VALUES ('b', 'yy')", &[])?;
                Ok(())
            })
            .expect("transaction");
        db.database()
            .execute("DELETE FROM items WHERE id = ?", &[Value::from("a")])
            .expect("delete");
    }

    #[test]
    fn crud_transactions_walks_the_queue_without_completing() {
        let db = items_db();
        runtime().block_on(async {
            let empty: Vec<_> = db.crud_transactions().try_collect().await.expect("walk");
            assert!(empty.is_empty());
            queue_three_writes(&db);
            let walked: Vec<CrudTransaction> =
                db.crud_transactions().try_collect().await.expect("walk");
            let ids: Vec<Vec<String>> = walked
                .iter()
                .map(|t| t.entries.iter().map(|e| e.id.clone()).collect())
                .collect();
            assert_eq!(
                ids,
                vec![vec!["a".to_owned(), "b".to_owned()], vec!["a".to_owned()]]
            );
            // Nothing was completed: the walk starts over with the same transactions.
            let again: Vec<_> = db.crud_transactions().try_collect().await.expect("walk");
            assert_eq!(again, walked);
            // Completing the first leaves the second as the whole queue.
            let first = walked[0].clone();
            db.complete_transaction(first, None)
                .await
                .expect("complete");
            let rest: Vec<_> = db.crud_transactions().try_collect().await.expect("walk");
            assert_eq!(rest, walked[1..].to_vec());
        });
    }

    #[test]
    fn upload_queue_stats_counts_writes_and_their_bytes() {
        let db = items_db();
        runtime().block_on(async {
            assert_eq!(
                db.upload_queue_stats().await.expect("stats"),
                UploadQueueStats::default()
            );
            queue_three_writes(&db);
            let stats = db.upload_queue_stats().await.expect("stats");
            assert_eq!(stats.count, 3);
            let expected: i64 = db
                .database()
                .get("SELECT sum(length(data)) FROM ps_crud", &[])
                .expect("sum")
                .get(0)
                .and_then(Value::as_i64)
                .expect("integer");
            assert_eq!(stats.size_bytes, u64::try_from(expected).expect("positive"));
            assert!(stats.size_bytes > 0);
            let batch = db.get_crud_batch(10).await.expect("batch").expect("queued");
            db.complete_batch(batch, None).await.expect("complete");
            assert_eq!(
                db.upload_queue_stats().await.expect("stats"),
                UploadQueueStats::default()
            );
        });
    }
}
