// SPDX-License-Identifier: Apache-2.0
//! Helpers shared by the bindings' test files.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::ThreadId;

use parking_lot::Mutex;
use psync_ffi::{Column, Schema, Table, TableChangeListener, Value};

pub fn schema() -> Schema {
    Schema {
        tables: vec![Table {
            name: "todos".into(),
            columns: vec![Column {
                name: "title".into(),
                column_type: "text".into(),
            }],
            indexes: vec![],
            view_name: None,
            local_only: false,
            insert_only: false,
            include_metadata: false,
            include_old: None,
            include_old_only_when_changed: false,
            ignore_empty_update: false,
        }],
        raw_tables: vec![],
    }
}

/// Awaits an async export from a plain test thread.
pub fn wait<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

pub fn text(value: &str) -> Value {
    Value::Text {
        value: value.into(),
    }
}

#[derive(Debug)]
pub struct ChannelListener {
    updates: Mutex<Sender<(ThreadId, Vec<String>)>>,
}

impl ChannelListener {
    pub fn new() -> (Arc<Self>, Receiver<(ThreadId, Vec<String>)>) {
        let (sender, receiver) = channel();
        let listener = ChannelListener {
            updates: Mutex::new(sender),
        };
        (Arc::new(listener), receiver)
    }
}

impl TableChangeListener for ChannelListener {
    fn on_update(&self, tables: Vec<String>) {
        let _ = self
            .updates
            .lock()
            .send((std::thread::current().id(), tables));
    }
}
