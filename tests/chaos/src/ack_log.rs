// SPDX-License-Identifier: Apache-2.0
//! The acknowledged-write log of one client: a line `<seq> put|del <row id>` is appended (and
//! fsynced) after the SDK call for that write returned. A row written at sequence number
//! `seq` holds `completed = seq`, so any copy of a row says which write it reflects.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// One acknowledged write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// Insert or update: the row now holds `completed = seq`.
    Put,
    /// Delete.
    Delete,
}

/// What a client's acknowledged writes say its rows must be: row id → `Some(seq)` (present,
/// written by write `seq`) or `None` (deleted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// Row states.
    pub rows: BTreeMap<String, Option<i64>>,
    /// Highest sequence number acknowledged.
    pub max_seq: i64,
    /// Number of acknowledged writes.
    pub writes: u64,
}

impl Expected {
    /// Applies one acknowledged write.
    pub fn apply(&mut self, seq: i64, write: WriteKind, id: &str) {
        let state = match write {
            WriteKind::Put => Some(seq),
            WriteKind::Delete => None,
        };
        self.rows.insert(id.to_owned(), state);
        self.max_seq = self.max_seq.max(seq);
        self.writes += 1;
    }

    /// The rows that must exist, with their `completed` value.
    pub fn present(&self) -> BTreeMap<String, i64> {
        self.rows
            .iter()
            .filter_map(|(id, seq)| seq.map(|s| (id.clone(), s)))
            .collect()
    }

    /// Compares with the backend's rows (id → completed): the rows whose acknowledged state
    /// the backend does not hold (lost), and the backend rows starting with `prefix` (this
    /// client's) that no acknowledged write explains (phantom).
    pub fn compare(&self, backend: &BTreeMap<String, i64>, prefix: &str) -> (Vec<String>, u64) {
        let lost = self
            .rows
            .iter()
            .filter(|(id, state)| match state {
                Some(seq) => backend.get(*id) != Some(seq),
                None => backend.contains_key(*id),
            })
            .map(|(id, state)| {
                format!(
                    "{id}: acknowledged {state:?}, backend {:?}",
                    backend.get(id)
                )
            })
            .collect();
        let phantom = backend
            .keys()
            .filter(|id| id.starts_with(prefix) && !self.rows.contains_key(*id))
            .count() as u64;
        (lost, phantom)
    }

    /// Reads a log file (missing = empty).
    pub fn read(path: &Path) -> io::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let mut expected = Self::default();
        for line in text.lines() {
            let mut parts = line.split(' ');
            let (Some(seq), Some(op), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
                // A torn last line (killed mid-append) was never acknowledged in the log.
                continue;
            };
            let Ok(seq) = seq.parse() else { continue };
            let write = if op == "del" {
                WriteKind::Delete
            } else {
                WriteKind::Put
            };
            expected.apply(seq, write, id);
        }
        Ok(expected)
    }
}

/// An open log, appending with fsync.
pub struct AckLog {
    file: File,
}

impl AckLog {
    /// Opens `path` for appending (creating it).
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self { file })
    }

    /// Appends one acknowledged write and syncs it to disk.
    pub fn append(&mut self, seq: i64, write: WriteKind, id: &str) -> io::Result<()> {
        let op = match write {
            WriteKind::Put => "put",
            WriteKind::Delete => "del",
        };
        self.file
            .write_all(format!("{seq} {op} {id}\n").as_bytes())?;
        self.file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_keeps_the_last_write_per_row_and_skips_a_torn_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c0.log");
        let mut log = AckLog::open(&path).expect("open");
        log.append(1, WriteKind::Put, "c0-1").expect("append");
        log.append(2, WriteKind::Put, "c0-2").expect("append");
        log.append(3, WriteKind::Put, "c0-1").expect("append");
        log.append(4, WriteKind::Delete, "c0-2").expect("append");
        drop(log);
        let mut file = OpenOptions::new().append(true).open(&path).expect("reopen");
        file.write_all(b"5 pu").expect("torn line");
        let expected = Expected::read(&path).expect("read");
        assert_eq!(expected.writes, 4);
        assert_eq!(expected.max_seq, 4);
        assert_eq!(
            expected.present().into_iter().collect::<Vec<_>>(),
            vec![("c0-1".to_owned(), 3)]
        );
        assert_eq!(expected.rows.get("c0-2"), Some(&None));
        assert_eq!(
            Expected::read(&dir.path().join("missing")).expect("empty"),
            Expected::default()
        );

        let backend = |rows: &[(&str, i64)]| -> BTreeMap<String, i64> {
            rows.iter()
                .map(|(id, seq)| ((*id).to_owned(), *seq))
                .collect()
        };
        let (lost, phantom) = expected.compare(&backend(&[("c0-1", 3), ("c1-9", 9)]), "c0-");
        assert!(lost.is_empty(), "{lost:?}");
        assert_eq!(phantom, 0);
        // An older version, a deleted row back, an unexplained row.
        let (lost, phantom) =
            expected.compare(&backend(&[("c0-1", 1), ("c0-2", 2), ("c0-7", 7)]), "c0-");
        assert_eq!(lost.len(), 2, "{lost:?}");
        assert_eq!(phantom, 1);
    }
}
