// SPDX-License-Identifier: Apache-2.0
//! One `connect()`: builds its parts (credentials, service client, signals, checkpoint
//! allocator), starts the driver and upload tasks with what each needs, and stops them.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::task::JoinHandle;

use super::auth::Auth;
use super::checkpoint::Allocator;
use super::connector::{BackendConnector, SyncOptions};
use super::http::ServiceClient;
use super::signals::Signals;
use super::transport::{HttpClient, ReqwestHttpClient};
use super::{ClientInner, blocking, driver, engine_calls, upload};
use crate::db::TableListenerHandle;
use crate::{Error, Result};

/// The parts of a running `connect()` the client reaches synchronously (subscriptions,
/// `request_checkpoint()`, stopping when the app drops its last handle).
pub(crate) struct SessionParts {
    pub(crate) signals: Arc<Signals>,
    pub(crate) checkpoints: Arc<Allocator>,
    pub(crate) service: Arc<ServiceClient>,
}

impl SessionParts {
    /// Tells every task of the session to stop, without waiting: the one place a session
    /// is told to end (`disconnect()`, `close()` and dropping the client all come here).
    pub(crate) fn signal_stop(&self) -> Vec<JoinHandle<()>> {
        self.checkpoints.end();
        self.signals.stop()
    }
}

/// A running `connect()`.
pub(crate) struct Session {
    pub(crate) parts: Arc<SessionParts>,
    client: Weak<ClientInner>,
    tasks: Vec<JoinHandle<()>>,
    _crud_listener: TableListenerHandle,
}

/// The HTTP client of one `connect()`: the injected one, or reqwest for these options.
async fn http_client(inner: &ClientInner, options: &SyncOptions) -> Result<Arc<dyn HttpClient>> {
    if let Some(http) = &inner.http_override {
        return Ok(Arc::clone(http));
    }
    let options = options.clone();
    // Blocking: the first call per process reads the system's certificates.
    let reqwest = tokio::task::spawn_blocking(move || ReqwestHttpClient::for_options(&options))
        .await
        .map_err(|_| Error::state("TLS setup failed"))??;
    Ok(Arc::new(reqwest))
}

impl Session {
    pub(crate) async fn start(
        inner: &Arc<ClientInner>,
        connector: Arc<dyn BackendConnector>,
        options: SyncOptions,
    ) -> Result<Self> {
        options.validate()?;
        let client_id = blocking(&inner.db, |db| {
            db.read(|tx| crate::storage::kv::client_id(tx.connection()))
        })
        .await?;
        let http = http_client(inner, &options).await?;
        let auth = Arc::new(Auth::new(Arc::clone(&connector)));
        let parts = Arc::new(SessionParts {
            signals: Arc::new(Signals::new(Arc::clone(&inner.clock))),
            checkpoints: Arc::new(Allocator::new(options.checkpoint_mode)),
            service: Arc::new(ServiceClient::new(
                http,
                auth,
                client_id,
                &options.client_language,
            )),
        });
        let signals = Arc::downgrade(&parts.signals);
        let crud_listener = inner.db.add_table_listener(Box::new(move |tables| {
            if tables.contains("ps_crud")
                && let Some(signals) = signals.upgrade()
            {
                signals.upload_trigger.notify_one();
            }
        }));
        inner.status.update(|s| {
            s.connecting = true;
            s.checkpoint_requests_unsupported = false;
        });
        parts.signals.upload_trigger.notify_one();
        let driver = driver::Driver {
            client: Arc::downgrade(inner),
            options: options.clone(),
            service: Arc::clone(&parts.service),
            signals: Arc::clone(&parts.signals),
            checkpoints: Arc::clone(&parts.checkpoints),
        };
        let uploader = upload::Uploader {
            client: Arc::downgrade(inner),
            connector,
            retry_delay: options.retry_delay,
            crud_throttle: options.crud_throttle,
            service: Arc::clone(&parts.service),
            signals: Arc::clone(&parts.signals),
            checkpoints: Arc::clone(&parts.checkpoints),
        };
        let tasks = vec![
            tokio::spawn(driver::run(driver)),
            tokio::spawn(upload::run(uploader)),
        ];
        Ok(Self {
            parts,
            client: Arc::downgrade(inner),
            tasks,
            _crud_listener: crud_listener,
        })
    }

    /// Cancels the tasks and waits for them; a task that does not stop within 5 s is aborted
    /// (the driver then cannot send `Stop`, so it is sent here). The 5 s are real time on
    /// purpose: a safety net against a stuck connector, not client logic.
    pub(crate) async fn stop(self) {
        for handle in self.parts.signal_stop() {
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
        if aborted && let Some(client) = self.client.upgrade() {
            let _ = blocking(&client.db, |db| {
                engine_calls::control(db, engine_calls::SyncCommand::Stop)
            })
            .await;
        }
    }
}
