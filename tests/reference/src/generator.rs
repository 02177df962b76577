// SPDX-License-Identifier: Apache-2.0
//! Seeded generator of randomised command sequences.
//!
//! A small synthetic sync service (buckets of PUT/REMOVE ops on `items` rows and on an untyped
//! `other` table, some with subkeys, plus MOVE and CLEAR ops; each op with a random u32
//! checksum, bucket checksum = wrapping sum of its ops since the last CLEAR; data lines sent as
//! JSON or BSON) is interleaved with
//! client activity: local writes, uploads (deleting `ps_crud`, setting targets, requesting ids,
//! `completed_upload`), reconnects, token lines, in both checkpoint modes. The service never
//! re-sends an op the client already stored (re-delivery would double-count checksums) and only
//! completes a checkpoint once every op up to it was delivered, so checksums always validate.
//!
//! The same seed always produces the same sequence.

use psync_test_support::rng::SplitMix64;
use serde_json::{Value, json};

use crate::sequence::{Action, DEFAULT_CLIENT_ID, Sequence, Step, default_schema};

/// The generator of a seed's sequence: SplitMix64 (shared test support) started at `seed`
/// mixed with a constant, so that the recorded seeds keep producing the same sequences.
fn rng_for(seed: u64) -> SplitMix64 {
    SplitMix64::new(seed ^ 0x9E37_79B9_7F4A_7C15)
}

/// What an op does (the row ops name an `object_type` and `object_id`).
#[derive(Debug, Clone)]
enum OpKind {
    Put(String),
    Remove,
    Move,
    Clear,
}

#[derive(Debug, Clone)]
struct Op {
    op_id: u64,
    kind: OpKind,
    object_type: &'static str,
    row: String,
    subkey: Option<String>,
    checksum: u32,
}

impl Op {
    fn to_json(&self) -> Value {
        let mut op = json!({"op_id": self.op_id.to_string(), "checksum": self.checksum});
        let row_op = |name: &str| json!({"op": name, "object_type": self.object_type, "object_id": self.row});
        let mut fields = match &self.kind {
            OpKind::Put(data) => {
                let mut put = row_op("PUT");
                put["data"] = json!(data);
                put
            }
            OpKind::Remove => row_op("REMOVE"),
            OpKind::Move => json!({"op": "MOVE"}),
            OpKind::Clear => json!({"op": "CLEAR"}),
        };
        if let Some(subkey) = &self.subkey {
            fields["subkey"] = json!(subkey);
        }
        if let (Some(op), Some(fields)) = (op.as_object_mut(), fields.as_object_mut()) {
            op.append(fields);
        }
        op
    }
}

#[derive(Debug, Clone)]
struct Bucket {
    name: String,
    priority: u64,
    ops: Vec<Op>,
    included: bool,
    /// Highest op id the client stored (0 after the client deleted the bucket).
    client_has_upto: u64,
}

impl Bucket {
    /// A CLEAR drops everything before it; its own checksum stays (the protocol's rule).
    fn checksum_upto(&self, last_op: u64) -> i64 {
        let upto: Vec<&Op> = self.ops.iter().filter(|op| op.op_id <= last_op).collect();
        let since_clear = upto
            .iter()
            .rposition(|op| matches!(op.kind, OpKind::Clear))
            .unwrap_or(0);
        let sum = upto[since_clear..]
            .iter()
            .fold(0u32, |acc, op| acc.wrapping_add(op.checksum));
        i64::from(sum)
    }

    fn count_upto(&self, last_op: u64) -> usize {
        self.ops.iter().filter(|op| op.op_id <= last_op).count()
    }
}

struct Model {
    rng: SplitMix64,
    requests_mode: bool,
    buckets: Vec<Bucket>,
    next_op_id: u64,
    active: bool,
    /// last_op_id of the checkpoint sent in this iteration, if any.
    checkpoint: Option<u64>,
    seeded: bool,
    steps: Vec<Step>,
    local_counter: u64,
}

fn control(command: &str, payload: Value) -> Step {
    Step::new(Action::Control {
        command: command.into(),
        payload,
    })
}

fn sql(statement: &str, args: Vec<Value>) -> Step {
    Step::new(Action::Sql {
        sql: statement.into(),
        args,
    })
}

impl Model {
    fn new(seed: u64) -> Self {
        let mut rng = rng_for(seed);
        let requests_mode = rng.chance(50);
        let bucket_count = 1 + rng.below(3) as usize;
        let buckets = (0..bucket_count)
            .map(|index| Bucket {
                name: format!("b{index}"),
                priority: rng.below(4),
                ops: Vec::new(),
                included: true,
                client_has_upto: 0,
            })
            .collect();
        Self {
            rng,
            requests_mode,
            buckets,
            next_op_id: 1,
            active: false,
            checkpoint: None,
            seeded: false,
            steps: Vec::new(),
            local_counter: 0,
        }
    }

    fn line(&mut self, line: Value) {
        self.steps.push(control("line_text", line));
    }

    fn start(&mut self) {
        let payload = if self.requests_mode {
            json!({"checkpoint_mode": "requests"})
        } else {
            Value::Null
        };
        self.steps.push(control("start", payload));
        self.active = true;
        self.checkpoint = None;
        self.seeded = false;
        if self.requests_mode || self.rng.chance(30) {
            let seed = 1 + self.rng.below(6);
            self.steps
                .push(control("seed_checkpoint_request_id", json!(seed)));
            self.seeded = true;
        }
    }

    fn stop(&mut self) {
        self.steps.push(control("stop", Value::Null));
        self.active = false;
        self.checkpoint = None;
    }

    fn add_server_ops(&mut self) {
        let bucket_index = self.rng.below(self.buckets.len() as u64) as usize;
        let count = 1 + self.rng.below(4);
        for _ in 0..count {
            let row = format!("r{}", self.rng.below(8));
            let kind = match self.rng.below(100) {
                0..=69 => OpKind::Put(json!({"col": format!("v{}", self.next_op_id)}).to_string()),
                70..=89 => OpKind::Remove,
                90..=95 => OpKind::Move,
                _ => OpKind::Clear,
            };
            // Rows of a table the schema lacks end up in `ps_untyped`.
            let object_type = if self.rng.chance(15) {
                "other"
            } else {
                "items"
            };
            let subkey = self
                .rng
                .chance(20)
                .then(|| format!("s{}", self.rng.below(2)));
            let op = Op {
                op_id: self.next_op_id,
                kind,
                object_type,
                row,
                subkey,
                checksum: (self.rng.next_u64() & 0xFFFF_FFFF) as u32,
            };
            self.next_op_id += 1;
            self.buckets[bucket_index].ops.push(op);
        }
    }

    fn bucket_json(&self, bucket: &Bucket, last_op: u64) -> Value {
        json!({"bucket": bucket.name, "checksum": bucket.checksum_upto(last_op),
               "priority": bucket.priority, "count": bucket.count_upto(last_op)})
    }

    fn write_checkpoint(&mut self) -> Option<String> {
        self.rng
            .chance(40)
            .then(|| (1 + self.rng.below(8)).to_string())
    }

    fn send_checkpoint(&mut self) {
        if self.rng.chance(60) {
            self.add_server_ops();
        }
        // Occasionally drop or re-add a bucket (the client deletes dropped buckets).
        if self.buckets.len() > 1 && self.rng.chance(10) {
            let index = self.rng.below(self.buckets.len() as u64) as usize;
            self.buckets[index].included = !self.buckets[index].included;
        }
        let last_op = self.next_op_id - 1;
        let write_checkpoint = self.write_checkpoint();
        let use_diff = self.checkpoint.is_some() && self.rng.chance(50);
        let included: Vec<Value> = self
            .buckets
            .iter()
            .filter(|b| b.included)
            .map(|b| self.bucket_json(b, last_op))
            .collect();
        let mut body = if use_diff {
            let removed: Vec<&str> = self
                .buckets
                .iter()
                .filter(|b| !b.included)
                .map(|b| b.name.as_str())
                .collect();
            json!({"last_op_id": last_op.to_string(), "updated_buckets": included,
                   "removed_buckets": removed})
        } else {
            json!({"last_op_id": last_op.to_string(), "buckets": included})
        };
        if let (Some(w), Some(object)) = (write_checkpoint, body.as_object_mut()) {
            object.insert("write_checkpoint".into(), Value::String(w));
        }
        for bucket in self.buckets.iter_mut().filter(|b| !b.included) {
            bucket.client_has_upto = 0;
        }
        let key = if use_diff {
            "checkpoint_diff"
        } else {
            "checkpoint"
        };
        self.line(json!({ key: body }));
        self.checkpoint = Some(last_op);
    }

    fn undelivered(&self, last_op: u64) -> Vec<usize> {
        (0..self.buckets.len())
            .filter(|&i| {
                let b = &self.buckets[i];
                b.included
                    && b.ops
                        .iter()
                        .any(|op| op.op_id > b.client_has_upto && op.op_id <= last_op)
            })
            .collect()
    }

    fn send_data(&mut self, last_op: u64) {
        let pending = self.undelivered(last_op);
        if pending.is_empty() {
            return;
        }
        let index = pending[self.rng.below(pending.len() as u64) as usize];
        let take = 1 + self.rng.below(3) as usize;
        let bucket = &self.buckets[index];
        let ops: Vec<Op> = bucket
            .ops
            .iter()
            .filter(|op| op.op_id > bucket.client_has_upto && op.op_id <= last_op)
            .take(take)
            .cloned()
            .collect();
        let Some(last) = ops.last().map(|op| op.op_id) else {
            return;
        };
        let data: Vec<Value> = ops.iter().map(Op::to_json).collect();
        let name = bucket.name.clone();
        self.buckets[index].client_has_upto = last;
        let line = json!({"data": {"bucket": name, "data": data}});
        // Some data lines arrive as BSON, as on a stream opened with BSON accepted.
        if self.rng.chance(25) {
            self.steps.push(control("line_binary", line));
        } else {
            self.line(line);
        }
    }

    fn complete(&mut self, last_op: u64) {
        let undelivered = self.undelivered(last_op);
        if undelivered.is_empty() {
            self.line(json!({"checkpoint_complete": {"last_op_id": last_op.to_string()}}));
            return;
        }
        // A partial complete for a priority whose buckets are all delivered.
        let blocked_min = undelivered
            .iter()
            .map(|&i| self.buckets[i].priority)
            .min()
            .unwrap_or(0);
        if blocked_min > 0 {
            let priority = self.rng.below(blocked_min);
            self.line(json!({"partial_checkpoint_complete":
                {"last_op_id": last_op.to_string(), "priority": priority}}));
        }
    }

    fn local_write(&mut self) {
        self.local_counter += 1;
        let choice = self.rng.below(4);
        let step = match choice {
            0 => sql(
                "INSERT INTO items (id, col) VALUES (?, ?)",
                vec![json!(format!("local{}", self.local_counter)), json!("l")],
            ),
            1 => sql(
                "UPDATE items SET col = ? WHERE id = ?",
                vec![
                    json!(format!("u{}", self.local_counter)),
                    json!(format!("r{}", self.rng.below(8))),
                ],
            ),
            2 => sql(
                "DELETE FROM items WHERE id = ?",
                vec![json!(format!("r{}", self.rng.below(8)))],
            ),
            _ => Step::new(Action::SqlTx(vec![
                (
                    "INSERT OR REPLACE INTO items (id, col) VALUES (?, ?)".into(),
                    vec![json!(format!("r{}", self.rng.below(8))), json!("tx")],
                ),
                (
                    "INSERT INTO items (id, col) VALUES (?, ?)".into(),
                    vec![json!(format!("tx{}", self.local_counter)), json!("tx")],
                ),
            ])),
        };
        self.steps.push(step);
    }

    fn upload(&mut self) {
        self.steps.push(sql("DELETE FROM ps_crud", vec![]));
        if self.requests_mode && self.active && self.seeded {
            self.steps
                .push(control("next_checkpoint_request_id", Value::Null));
            self.steps
                .push(control("current_checkpoint_request_id", Value::Null));
        }
        if self.rng.chance(70) {
            let target = 1 + self.rng.below(8);
            self.steps
                .push(control("target_checkpoint_request_id", json!(target)));
        }
        if self.active {
            self.steps.push(control("completed_upload", Value::Null));
        }
    }

    fn step(&mut self) {
        if !self.active {
            match self.rng.below(10) {
                0 => self.local_write(),
                1 => self.upload(),
                2 => self
                    .steps
                    .push(control("target_checkpoint_request_id", Value::Null)),
                _ => self.start(),
            }
            return;
        }
        match self.rng.below(100) {
            0..=14 => self.send_checkpoint(),
            15..=44 => match self.checkpoint {
                Some(last_op) => self.send_data(last_op),
                None => self.send_checkpoint(),
            },
            45..=59 => match self.checkpoint {
                Some(last_op) => self.complete(last_op),
                None => self.send_checkpoint(),
            },
            60..=71 => self.local_write(),
            72..=79 => self.upload(),
            80..=84 => self.stop(),
            85..=87 => self.steps.push(control("connection", json!("established"))),
            88..=90 => {
                let seconds = [0, 10, 30, 31, 600][self.rng.below(5) as usize];
                self.line(json!({ "token_expires_in": seconds }));
                if seconds <= 0 {
                    // The core closes the iteration (FetchCredentials{did_expire:true}).
                    self.active = false;
                    self.checkpoint = None;
                }
            }
            91..=93 => {
                self.steps.push(Step::new(Action::Snapshot));
            }
            94..=95 => {
                self.steps.push(control(
                    "seed_checkpoint_request_id",
                    json!(1 + self.rng.below(9)),
                ));
                self.seeded = true;
            }
            96 => self.steps.push(control("refreshed_token", Value::Null)),
            _ => self.start(),
        }
        // `refreshed_token` closes the iteration.
        if let Some(Action::Control { command, .. }) = self.steps.last().map(|s| &s.action)
            && command == "refreshed_token"
        {
            self.active = false;
            self.checkpoint = None;
        }
    }
}

/// Generates the randomised sequence for `seed` with about `length` steps.
pub fn generate(seed: u64, length: usize) -> Sequence {
    let mut model = Model::new(seed);
    while model.steps.len() < length {
        model.step();
    }
    let mode = if model.requests_mode {
        "requests"
    } else {
        "legacy"
    };
    Sequence {
        name: format!("generated-{mode}-seed-{seed}"),
        scenario: None,
        schema: Some(default_schema()),
        client_id: DEFAULT_CLIENT_ID.into(),
        steps: model.steps,
        expect_final: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        assert_eq!(generate(7, 60).to_json(), generate(7, 60).to_json());
        assert_ne!(generate(7, 60).to_json(), generate(8, 60).to_json());
    }

    #[test]
    fn both_checkpoint_modes_are_generated() {
        let modes: std::collections::HashSet<bool> = (0..20)
            .map(|seed| generate(seed, 10).name.contains("requests"))
            .collect();
        assert_eq!(modes.len(), 2);
    }
}
