// SPDX-License-Identifier: Apache-2.0
//! A synthetic initial sync used by the benchmark and the crash-safety test: `rows` rows of a
//! 6-column table `rows` (~200 bytes each) spread round-robin over `buckets` buckets, sent as
//! data lines of up to 1000 PUT ops, with valid checksums. Row `i` has op id `first_op + i`.

use serde_json::{Value, json};

/// Schema of the synthetic table.
pub const SCHEMA: &str = r#"{"tables":[{"name":"rows","columns":[
 {"name":"a","type":"text"},{"name":"b","type":"integer"},{"name":"c","type":"text"},
 {"name":"d","type":"real"},{"name":"e","type":"text"},{"name":"f","type":"integer"}]}]}"#;

/// Ops per data line.
pub const OPS_PER_LINE: usize = 1000;

/// Shape of one synthetic sync.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Index of the first row (rows `first_row..first_row + rows`; op id = index + 1).
    pub first_row: usize,
    /// Bucket names are `<bucket_prefix><n>`.
    pub bucket_prefix: &'static str,
    /// Number of rows (= ops).
    pub rows: usize,
    /// Number of buckets.
    pub buckets: usize,
    /// Priority of every bucket.
    pub priority: u32,
}

/// The id of row `index`: `row-` and 24 hex digits whose order is unrelated to the index,
/// like the UUIDs real apps use, so inserts land all over the id indexes as they do in a real
/// initial sync (sequential ids would make every index insert an append).
pub fn row_id(index: usize) -> String {
    let scrambled = (index as u64 ^ 0x5bd1_e995).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!("row-{scrambled:016x}{index:08x}")
}

/// The row with index `i` as its JSON data.
pub fn row_data(index: usize) -> Value {
    json!({
        "a": format!("name-{index:08}-abcdefghijklmnopqrstuvwxyz"),
        "b": index as i64 * 7,
        "c": format!("description {index} lorem ipsum dolor sit amet, consectetur adipiscing"),
        "d": index as f64 * 0.25,
        "e": format!("owner-{:06}-0000-0000-000000000000", index % 1000),
        "f": (index % 5) as i64,
    })
}

/// Checksum of op `op_id` (any u32 is valid; the bucket checksum is the wrapping sum).
pub fn op_checksum(op_id: usize) -> u32 {
    (op_id as u64).wrapping_mul(2_654_435_761) as u32
}

impl Plan {
    /// `rows` rows in `buckets` buckets of priority `priority`, starting at row 0.
    pub fn new(rows: usize, buckets: usize, priority: u32) -> Self {
        Self {
            first_row: 0,
            bucket_prefix: "bucket",
            rows,
            buckets,
            priority,
        }
    }

    fn bucket_rows(self, bucket: usize) -> impl Iterator<Item = usize> {
        (self.first_row + bucket..self.first_row + self.rows).step_by(self.buckets.max(1))
    }

    /// The op id of the last row.
    pub fn last_op(self) -> usize {
        self.first_row + self.rows
    }

    /// The `checkpoint` line.
    pub fn checkpoint_line(self) -> String {
        let buckets = self.bucket_entries();
        json!({"checkpoint": {"last_op_id": self.last_op().to_string(), "buckets": buckets}})
            .to_string()
    }

    /// This plan's buckets as checkpoint entries (to combine plans in one checkpoint).
    pub fn bucket_entries(self) -> Vec<Value> {
        (0..self.buckets)
            .map(|bucket| {
                let checksum = self
                    .bucket_rows(bucket)
                    .fold(0u32, |acc, i| acc.wrapping_add(op_checksum(i + 1)));
                json!({"bucket": format!("{}{bucket}", self.bucket_prefix), "checksum": checksum,
                       "priority": self.priority, "count": self.bucket_rows(bucket).count()})
            })
            .collect()
    }

    /// Every data line, generated lazily.
    pub fn data_lines(self) -> impl Iterator<Item = String> {
        (0..self.buckets).flat_map(move |bucket| {
            let indexes: Vec<usize> = self.bucket_rows(bucket).collect();
            let chunks: Vec<Vec<usize>> = indexes
                .chunks(OPS_PER_LINE)
                .map(<[usize]>::to_vec)
                .collect();
            chunks.into_iter().map(move |chunk| {
                let ops: Vec<Value> = chunk
                    .iter()
                    .map(|&i| {
                        json!({"op_id": (i + 1).to_string(), "op": "PUT", "object_type": "rows",
                               "object_id": row_id(i), "checksum": op_checksum(i + 1),
                               "data": row_data(i).to_string()})
                    })
                    .collect();
                let name = format!("{}{bucket}", self.bucket_prefix);
                json!({"data": {"bucket": name, "data": ops}}).to_string()
            })
        })
    }

    /// The `checkpoint_complete` line.
    pub fn complete_line(self) -> String {
        json!({"checkpoint_complete": {"last_op_id": self.last_op().to_string()}}).to_string()
    }

    /// The `partial_checkpoint_complete` line for this plan's priority.
    pub fn partial_complete_line(self) -> String {
        json!({"partial_checkpoint_complete":
            {"last_op_id": self.last_op().to_string(), "priority": self.priority}})
        .to_string()
    }
}
