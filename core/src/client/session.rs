// SPDX-License-Identifier: Apache-2.0
//! One `connect()`: its background tasks and the state they share (credentials, seeding,
//! cancellation, upload triggers).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::connector::{BackendConnector, CheckpointMode, Credentials, SyncOptions};
use super::{ClientInner, blocking, driver, engine_calls, tls, upload};
use crate::db::TableListenerHandle;
use crate::{Error, Result};

/// Whether the current iteration reconciled its checkpoint request counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeedState {
    /// No iteration, or not reconciled yet.
    Waiting,
    /// Ids may be allocated.
    Seeded,
    /// The service answered 404: requests mode is off for this `connect()`.
    Unsupported,
    /// The session ended.
    Ended,
}

pub(crate) struct SessionShared {
    pub(crate) client: Weak<ClientInner>,
    pub(crate) connector: Arc<dyn BackendConnector>,
    pub(crate) options: SyncOptions,
    pub(crate) http: reqwest::Client,
    pub(crate) client_id: String,
    credentials: Mutex<Option<Credentials>>,
    credentials_invalid: AtomicBool,
    refreshing: AtomicBool,
    pub(crate) seed: watch::Sender<SeedState>,
    cancel: watch::Sender<bool>,
    /// Wakes the upload task (local writes, first line, connect, retry).
    pub(crate) upload_trigger: Notify,
    /// Tells the driver an upload round finished.
    pub(crate) completed_upload: Notify,
    /// Tells the driver a background credential refresh finished.
    pub(crate) refreshed: Notify,
    /// Tells the driver the app's stream subscriptions may have changed.
    pub(crate) subscriptions_changed: Notify,
    /// Serialises the checkpoint request POSTs of this session (so the service sees them in
    /// id order) and remembers what they covered, letting concurrent requests share one POST
    /// (see `checkpoint::allocate`). An async mutex: it is held across the POST's `.await`.
    pub(crate) allocation: tokio::sync::Mutex<super::checkpoint::PostedCoverage>,
    /// Callers waiting for their own checkpoint request id (allocated in groups).
    pub(crate) id_queue: Mutex<super::checkpoint::IdQueue>,
    /// Background refreshes, aborted when the session ends.
    background: Mutex<Vec<JoinHandle<()>>>,
}

impl SessionShared {
    pub(crate) fn is_cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Resolves once the session is being stopped.
    pub(crate) async fn cancelled(&self) {
        let mut rx = self.cancel.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }

    /// Sleeps unless cancelled first; returns `false` when cancelled.
    pub(crate) async fn sleep(&self, duration: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(duration) => true,
            _ = self.cancelled() => false,
        }
    }

    /// Tells every task of the session to stop (without waiting) and aborts the background
    /// refreshes; returns their handles.
    pub(crate) fn signal_stop(&self) -> Vec<JoinHandle<()>> {
        self.cancel.send_replace(true);
        self.seed.send_replace(SeedState::Ended);
        let background: Vec<_> = std::mem::take(&mut *self.background.lock());
        for handle in &background {
            handle.abort();
        }
        background
    }

    pub(crate) fn requests_mode(&self) -> bool {
        self.options.checkpoint_mode == CheckpointMode::Requests
            && *self.seed.borrow() != SeedState::Unsupported
    }

    /// Forgets cached credentials; the connector's `invalidate_credentials` runs before the
    /// next fetch.
    pub(crate) fn invalidate_credentials(&self) {
        *self.credentials.lock() = None;
        self.credentials_invalid.store(true, Ordering::Release);
    }

    /// Cached credentials, fetching them if needed.
    pub(crate) async fn credentials(&self) -> Result<Credentials> {
        if self.credentials_invalid.swap(false, Ordering::AcqRel) {
            self.connector.invalidate_credentials().await;
        }
        if let Some(c) = self.credentials.lock().clone() {
            return Ok(c);
        }
        let fetched =
            self.connector.fetch_credentials().await?.ok_or_else(|| {
                Error::state("not signed in: the connector returned no credentials")
            })?;
        *self.credentials.lock() = Some(fetched.clone());
        Ok(fetched)
    }

    /// Refreshes credentials in the background (once at a time), then notifies the driver.
    pub(crate) fn refresh_credentials_in_background(self: &Arc<Self>) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let shared = Arc::clone(self);
        let handle = tokio::spawn(async move {
            let fetched = shared.connector.fetch_credentials().await;
            if let Ok(Some(c)) = fetched {
                *shared.credentials.lock() = Some(c);
            }
            // On failure the old credentials stay; the service ends the stream at expiry and
            // the next iteration fetches again.
            shared.refreshing.store(false, Ordering::Release);
            shared.refreshed.notify_one();
        });
        let mut background = self.background.lock();
        background.retain(|h| !h.is_finished());
        background.push(handle);
    }
}

/// A running `connect()`.
pub(crate) struct Session {
    pub(crate) shared: Arc<SessionShared>,
    tasks: Vec<JoinHandle<()>>,
    _crud_listener: TableListenerHandle,
}

impl Session {
    pub(crate) async fn start(
        inner: &Arc<ClientInner>,
        connector: Arc<dyn BackendConnector>,
        options: SyncOptions,
    ) -> Result<Self> {
        options.validate()?;
        let client_id = blocking(&inner.db, |db| {
            db.read(|tx| crate::kv::client_id(tx.connection()))
        })
        .await?;
        // Blocking: the first call per process reads the system's certificates.
        let extra_roots = options.extra_root_certificates_pem.clone();
        let tls = tokio::task::spawn_blocking(move || tls::client_config(&extra_roots))
            .await
            .map_err(|_| Error::state("TLS setup failed"))??;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .user_agent(super::http::user_agent(&options.client_language))
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|_| Error::state("could not create the HTTP client"))?;
        let shared = Arc::new(SessionShared {
            client: Arc::downgrade(inner),
            connector,
            options,
            http,
            client_id,
            credentials: Mutex::new(None),
            credentials_invalid: AtomicBool::new(false),
            refreshing: AtomicBool::new(false),
            seed: watch::Sender::new(SeedState::Waiting),
            cancel: watch::Sender::new(false),
            upload_trigger: Notify::new(),
            completed_upload: Notify::new(),
            refreshed: Notify::new(),
            subscriptions_changed: Notify::new(),
            allocation: tokio::sync::Mutex::new(Default::default()),
            id_queue: Mutex::new(Default::default()),
            background: Mutex::new(Vec::new()),
        });
        let weak = Arc::downgrade(&shared);
        let crud_listener = inner.db.add_table_listener(Box::new(move |tables| {
            if tables.contains("ps_crud")
                && let Some(shared) = weak.upgrade()
            {
                shared.upload_trigger.notify_one();
            }
        }));
        inner.status.update(|s| {
            s.connecting = true;
            s.checkpoint_requests_unsupported = false;
        });
        shared.upload_trigger.notify_one();
        let tasks = vec![
            tokio::spawn(driver::run(Arc::clone(&shared))),
            tokio::spawn(upload::run(Arc::clone(&shared))),
        ];
        Ok(Self {
            shared,
            tasks,
            _crud_listener: crud_listener,
        })
    }

    /// Cancels the tasks and waits for them; a task that does not stop within 5 s is aborted
    /// (the driver then cannot send `Stop`, so it is sent here).
    pub(crate) async fn stop(self) {
        for handle in self.shared.signal_stop() {
            let _ = handle.await;
        }
        let mut aborted = false;
        for mut handle in self.tasks {
            if tokio::time::timeout(Duration::from_secs(5), &mut handle)
                .await
                .is_err()
            {
                handle.abort();
                let _ = handle.await;
                aborted = true;
            }
        }
        if aborted && let Some(client) = self.shared.client.upgrade() {
            let _ = blocking(&client.db, |db| {
                engine_calls::control(db, engine_calls::SyncCommand::Stop)
            })
            .await;
        }
    }
}
