// SPDX-License-Identifier: Apache-2.0
//! Test doubles for [`super::ClientIo`]: a clock that moves only when told, and an HTTP
//! client answering from a script, so client logic runs without a network or real sleeps.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{oneshot, watch};

use super::clock::{Clock, Sleep};
use super::connector::{BackendConnector, Credentials};
use super::transport::{HttpClient, HttpRequest, HttpResponse, TransportError};
use super::{ClientIo, SyncDatabase};
use crate::Result;

struct Sleeper {
    deadline: Duration,
    requested: Duration,
    wake: oneshot::Sender<()>,
}

/// Virtual time: sleeps resolve only when [`ManualClock::advance`] passes their deadline.
pub(crate) struct ManualClock {
    start: Instant,
    elapsed: Mutex<Duration>,
    sleepers: Mutex<Vec<Sleeper>>,
    /// Bumped whenever a sleep starts, so a test can wait for one.
    started: watch::Sender<u64>,
}

impl ManualClock {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            elapsed: Mutex::new(Duration::ZERO),
            sleepers: Mutex::new(Vec::new()),
            started: watch::Sender::new(0),
        })
    }

    /// Waits until some task sleeps for exactly `duration` (and has not given up on it).
    pub(crate) async fn sleeping_for(&self, duration: Duration) {
        let mut started = self.started.subscribe();
        loop {
            let pending = self
                .sleepers
                .lock()
                .iter()
                .any(|s| s.requested == duration && !s.wake.is_closed());
            if pending {
                return;
            }
            let _ = started.changed().await;
        }
    }

    /// Moves time forward by `by`, waking every sleep that is due.
    pub(crate) fn advance(&self, by: Duration) {
        let now = {
            let mut elapsed = self.elapsed.lock();
            *elapsed += by;
            *elapsed
        };
        let due: Vec<Sleeper> = {
            let mut sleepers = self.sleepers.lock();
            let (due, waiting) = std::mem::take(&mut *sleepers)
                .into_iter()
                .partition(|s| s.deadline <= now);
            *sleepers = waiting;
            due
        };
        for sleeper in due {
            let _ = sleeper.wake.send(());
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *self.elapsed.lock()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        let (wake, woken) = oneshot::channel();
        let deadline = *self.elapsed.lock() + duration;
        self.sleepers.lock().push(Sleeper {
            deadline,
            requested: duration,
            wake,
        });
        self.started.send_modify(|n| *n += 1);
        Box::pin(async move {
            let _ = woken.await;
        })
    }
}

/// How [`ScriptedHttp`] answers one request.
pub(crate) enum Answer {
    /// A status with a JSON body.
    Json(u16, serde_json::Value),
    /// 200 with ndjson lines, then a body that stays open (as a sync stream does).
    OpenStream(Vec<String>),
}

type Script = Box<dyn Fn(&HttpRequest) -> Answer + Send + Sync>;

/// Records every request and answers it from a script.
pub(crate) struct ScriptedHttp {
    script: Script,
    requests: Mutex<Vec<HttpRequest>>,
    sent: watch::Sender<usize>,
}

impl ScriptedHttp {
    pub(crate) fn new(
        script: impl Fn(&HttpRequest) -> Answer + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            script: Box::new(script),
            requests: Mutex::new(Vec::new()),
            sent: watch::Sender::new(0),
        })
    }

    /// The requests so far whose URL contains `path`.
    pub(crate) fn requests_to(&self, path: &str) -> Vec<HttpRequest> {
        let requests = self.requests.lock();
        requests
            .iter()
            .filter(|r| r.url.contains(path))
            .cloned()
            .collect()
    }

    /// Waits until `count` requests to `path` were sent.
    pub(crate) async fn until_requests_to(&self, path: &str, count: usize) {
        let mut sent = self.sent.subscribe();
        while self.requests_to(path).len() < count {
            let _ = sent.changed().await;
        }
    }
}

/// The value of header `name` of `request`.
pub(crate) fn header<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

#[async_trait]
impl HttpClient for ScriptedHttp {
    async fn send(
        &self,
        request: HttpRequest,
    ) -> std::result::Result<HttpResponse, TransportError> {
        let answer = (self.script)(&request);
        self.requests.lock().push(request);
        self.sent.send_modify(|n| *n += 1);
        let chunk = |bytes: Vec<u8>| Ok::<_, TransportError>(Bytes::from(bytes));
        Ok(match answer {
            Answer::Json(status, json) => HttpResponse {
                status,
                content_type: Some("application/json".to_owned()),
                body: Box::pin(futures_util::stream::iter([chunk(
                    json.to_string().into_bytes(),
                )])),
            },
            Answer::OpenStream(lines) => {
                let chunks: Vec<_> = lines
                    .into_iter()
                    .map(|line| chunk(format!("{line}\n").into_bytes()))
                    .collect();
                use futures_util::StreamExt as _;
                HttpResponse {
                    status: 200,
                    content_type: Some("application/x-ndjson".to_owned()),
                    body: Box::pin(
                        futures_util::stream::iter(chunks).chain(futures_util::stream::pending()),
                    ),
                }
            }
        })
    }
}

/// A connector handing out tokens `t1`, `t2`, … and counting what the client asked of it;
/// its first `fail_uploads` uploads fail.
pub(crate) struct CountingConnector {
    pub(crate) fetches: AtomicUsize,
    pub(crate) invalidations: AtomicUsize,
    pub(crate) uploads: AtomicUsize,
    pub(crate) fail_uploads: usize,
}

impl CountingConnector {
    pub(crate) fn new(fail_uploads: usize) -> Arc<Self> {
        Arc::new(Self {
            fetches: AtomicUsize::new(0),
            invalidations: AtomicUsize::new(0),
            uploads: AtomicUsize::new(0),
            fail_uploads,
        })
    }
}

#[async_trait]
impl BackendConnector for CountingConnector {
    async fn fetch_credentials(&self) -> Result<Option<Credentials>> {
        let n = self.fetches.fetch_add(1, Ordering::AcqRel) + 1;
        Ok(Some(Credentials {
            endpoint: "http://service.test".to_owned(),
            token: format!("t{n}"),
        }))
    }

    /// Fails the first `fail_uploads` calls, then uploads every queued transaction.
    async fn upload_data(&self, database: &SyncDatabase) -> Result<()> {
        let n = self.uploads.fetch_add(1, Ordering::AcqRel) + 1;
        if n <= self.fail_uploads {
            return Err(crate::Error::network("backend unreachable"));
        }
        while let Some(transaction) = database.get_next_crud_transaction().await? {
            database.complete_transaction(transaction, None).await?;
        }
        Ok(())
    }

    async fn invalidate_credentials(&self) {
        self.invalidations.fetch_add(1, Ordering::AcqRel);
    }
}

/// An in-memory database with one `items` table, its client using `clock` and `http`.
pub(crate) fn client_with(clock: &Arc<ManualClock>, http: &Arc<ScriptedHttp>) -> SyncDatabase {
    let db = crate::Database::open_in_memory().expect("open");
    let schema = r#"{"tables":[{"name":"items","columns":[{"name":"col","type":"text"}]}]}"#;
    db.update_schema(crate::storage::schema::Schema::from_json(schema).expect("schema"))
        .expect("update schema");
    SyncDatabase::with_io(
        db,
        ClientIo {
            http: Some(Arc::clone(http) as Arc<dyn HttpClient>),
            clock: Arc::clone(clock) as Arc<dyn Clock>,
        },
    )
}
