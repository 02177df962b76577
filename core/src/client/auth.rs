// SPDX-License-Identifier: Apache-2.0
//! Credentials of one `connect()`: the cache, invalidation after the service rejected them
//! (401), and background refreshes the engine asks for before they expire.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::connector::{BackendConnector, Credentials};
use super::signals::Signals;
use crate::{Error, Result};

pub(crate) struct Auth {
    connector: Arc<dyn BackendConnector>,
    cached: Mutex<Option<Credentials>>,
    /// Set by a 401: the connector's `invalidate_credentials` runs before the next fetch.
    invalid: AtomicBool,
    /// A background refresh is running (at most one at a time).
    refreshing: AtomicBool,
    /// Tells the driver a background refresh finished.
    pub(crate) refreshed: Notify,
}

impl Auth {
    pub(crate) fn new(connector: Arc<dyn BackendConnector>) -> Self {
        Self {
            connector,
            cached: Mutex::new(None),
            invalid: AtomicBool::new(false),
            refreshing: AtomicBool::new(false),
            refreshed: Notify::new(),
        }
    }

    /// Forgets the cached credentials; the next [`Auth::credentials`] asks the connector to
    /// invalidate them, then fetches again.
    pub(crate) fn invalidate(&self) {
        *self.cached.lock() = None;
        self.invalid.store(true, Ordering::Release);
    }

    /// Cached credentials, fetching them if needed.
    pub(crate) async fn credentials(&self) -> Result<Credentials> {
        if self.invalid.swap(false, Ordering::AcqRel) {
            self.connector.invalidate_credentials().await;
        }
        if let Some(c) = self.cached.lock().clone() {
            return Ok(c);
        }
        let fetched =
            self.connector.fetch_credentials().await?.ok_or_else(|| {
                Error::state("not signed in: the connector returned no credentials")
            })?;
        *self.cached.lock() = Some(fetched.clone());
        Ok(fetched)
    }

    /// Refreshes credentials in the background (once at a time), then notifies
    /// [`Auth::refreshed`]. The task is the session's: `signals` aborts it on stop.
    pub(crate) fn refresh_in_background(self: &Arc<Self>, signals: &Signals) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let auth = Arc::clone(self);
        signals.spawn_background(async move {
            let fetched = auth.connector.fetch_credentials().await;
            if let Ok(Some(c)) = fetched {
                *auth.cached.lock() = Some(c);
            }
            // On failure the old credentials stay; the service ends the stream at expiry and
            // the next iteration fetches again.
            auth.refreshing.store(false, Ordering::Release);
            auth.refreshed.notify_one();
        });
    }
}
