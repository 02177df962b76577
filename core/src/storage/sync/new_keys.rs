// SPDX-License-Identifier: Apache-2.0
//! Which oplog keys a bucket may already hold, so that storing an op whose key it certainly
//! does not hold skips the lookup for superseded ops.
//!
//! Every PUT and REMOVE first looks for older ops with the same `(bucket, key)`. During a
//! first download nothing is ever found, yet the lookup costs about as much as one of the
//! index inserts. A bucket that has no ops when this iteration first stores into it gets a
//! Bloom filter; every key stored into it afterwards is added. A key the filter has never
//! seen cannot be in `ps_oplog` for that bucket, so its lookup is skipped; anything else
//! (a possible hit, or a bucket that already had ops) is looked up as before.
//!
//! The filter only ever over-approximates: keys of rolled-back transactions, deleted ops or
//! a deleted and re-created bucket stay in it, which costs lookups, never correctness. It
//! relies on this engine being the only writer of `ps_oplog` for the database (two sync
//! clients on one file are not supported anyway). The filters live in the iteration and
//! are rebuilt from scratch by the next one.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{DefaultHasher, Hash, Hasher};

use rusqlite::Connection;

use crate::Result;

/// Filter bits per expected key (with [`HASHES`] probes: about 1% false positives).
const BITS_PER_KEY: usize = 10;
const HASHES: u64 = 7;
/// Keys a filter is sized for when the checkpoint gives no count.
const DEFAULT_KEYS: usize = 10_000;
/// Upper bound on one filter (16 Mi bits = 2 MiB, sized for about 1.6M keys at 1% false
/// positives; more keys only raise that rate).
const MAX_BITS: usize = 1 << 24;
pub(crate) const BUCKET_HAS_OPS_SQL: &str =
    "SELECT EXISTS (SELECT 1 FROM ps_oplog WHERE bucket = ?1)";

/// Per bucket id: `Some(filter)` when the bucket was empty at first sight, `None` when it
/// already held ops (always look up).
#[derive(Debug, Default)]
pub struct NewKeyFilters {
    buckets: HashMap<i64, Option<BloomFilter>>,
}

impl NewKeyFilters {
    /// The filter of `bucket`, creating it (sized for `expected_keys()`, asked only then) if
    /// the bucket holds no ops yet; `None` when its keys must always be looked up.
    pub fn for_bucket(
        &mut self,
        conn: &Connection,
        bucket: i64,
        expected_keys: impl FnOnce() -> Option<i64>,
    ) -> Result<Option<&mut BloomFilter>> {
        let filter = match self.buckets.entry(bucket) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let has_ops: bool = conn
                    .prepare_cached(BUCKET_HAS_OPS_SQL)?
                    .query_row([bucket], |r| r.get(0))?;
                let keys = expected_keys()
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(DEFAULT_KEYS);
                entry.insert((!has_ops).then(|| BloomFilter::for_keys(keys)))
            }
        };
        Ok(filter.as_mut())
    }
}

/// A fixed-size Bloom filter over strings.
#[derive(Debug)]
pub struct BloomFilter {
    words: Vec<u64>,
    /// Number of bits minus one (the size is a power of two).
    mask: u64,
}

impl BloomFilter {
    fn for_keys(keys: usize) -> Self {
        let bits = keys
            .saturating_mul(BITS_PER_KEY)
            .clamp(1024, MAX_BITS)
            .next_power_of_two();
        Self {
            words: vec![0; bits / 64],
            mask: (bits - 1) as u64,
        }
    }

    /// Bit positions of `key` (double hashing).
    fn positions(&self, key: &str) -> impl Iterator<Item = u64> + use<> {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let hash = hasher.finish();
        let (first, step) = (hash, (hash >> 32) | 1);
        let mask = self.mask;
        (0..HASHES).map(move |i| first.wrapping_add(i.wrapping_mul(step)) & mask)
    }

    /// `false` means `key` was certainly never inserted.
    pub fn may_contain(&self, key: &str) -> bool {
        self.positions(key)
            .all(|bit| self.words[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
    }

    /// Records `key`.
    pub fn insert(&mut self, key: &str) {
        for bit in self.positions(key) {
            self.words[(bit / 64) as usize] |= 1 << (bit % 64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_keys_are_always_found_and_few_others_are() {
        let mut filter = BloomFilter::for_keys(10_000);
        for i in 0..10_000 {
            filter.insert(&format!("rows/{i}/null"));
        }
        assert!((0..10_000).all(|i| filter.may_contain(&format!("rows/{i}/null"))));
        let false_positives = (10_000..110_000)
            .filter(|i| filter.may_contain(&format!("rows/{i}/null")))
            .count();
        assert!(false_positives < 3_000, "{false_positives} of 100000");
    }
}
