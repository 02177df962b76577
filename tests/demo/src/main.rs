// SPDX-License-Identifier: Apache-2.0
//! `cargo run --release -p psync-demo`: starts the test service in-process, syncs a local
//! database with it, writes rows, uploads them, waits for a checkpoint request and prints a
//! status timeline.
//!
//! With `--endpoint URL` (and `--token JWT` or `--token-command CMD`, and `--upload-url URL`)
//! the same steps run against a PowerSync service and app backend the demo does not start.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use psync_core::client::{BackendConnector, CheckpointMode, LogLevel, SyncDatabase, SyncOptions};
use psync_core::{Result, Value};
use psync_demo::{ExternalConnector, ServiceConnector, TokenSource, open_demo_database};
use psync_test_service::TestService;

const USAGE: &str = "\
usage: psync-demo [--bson] [--legacy-checkpoints] [--user ID]
       psync-demo --endpoint URL (--token JWT | --token-command CMD) --upload-url URL
                  [--bson] [--legacy-checkpoints] [--user ID]

Without --endpoint the demo starts the reference test service in-process. With it, the demo
syncs with the PowerSync service at URL as the token's user and uploads its writes to the app
backend's --upload-url as {\"batch\": [{\"op\", \"type\", \"id\", \"data\"}]}. The service's sync
rules must sync the tables lists(name, owner_id, created_at) and todos(list_id, description,
completed, owner_id, created_at) to that user; --user is the owner_id the demo writes (default
demo-user: use the token's subject). --token-command is run with `sh -c` whenever a token is
needed and prints one, so tokens that expire mid-run are renewed.";

/// What the command line asked for.
struct Args {
    external: Option<External>,
    user: String,
    use_bson: bool,
    legacy_checkpoints: bool,
}

/// A service and backend given on the command line.
struct External {
    endpoint: String,
    tokens: TokenSource,
    upload_url: String,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> std::result::Result<Args, String> {
    let mut endpoint = None;
    let mut tokens = None;
    let mut upload_url = None;
    let mut parsed = Args {
        external: None,
        user: "demo-user".to_owned(),
        use_bson: false,
        legacy_checkpoints: false,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--endpoint" => endpoint = Some(value()?),
            "--token" => tokens = Some(TokenSource::Fixed(value()?)),
            "--token-command" => tokens = Some(TokenSource::Command(value()?)),
            "--upload-url" => upload_url = Some(value()?),
            "--user" => parsed.user = value()?,
            "--bson" => parsed.use_bson = true,
            "--legacy-checkpoints" => parsed.legacy_checkpoints = true,
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    parsed.external = match (endpoint, tokens, upload_url) {
        (None, None, None) => None,
        (Some(endpoint), Some(tokens), Some(upload_url)) => Some(External {
            endpoint,
            tokens,
            upload_url,
        }),
        (None, _, _) => {
            return Err("--token, --token-command and --upload-url go with --endpoint".into());
        }
        (Some(_), None, _) => return Err("--endpoint needs --token or --token-command".into()),
        (Some(_), _, None) => {
            return Err("--endpoint needs --upload-url (the demo uploads its writes there)".into());
        }
    };
    Ok(parsed)
}

#[tokio::main]
async fn main() {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(problem) => {
            if !problem.is_empty() {
                println!("psync-demo: {problem}\n");
            }
            println!("{USAGE}");
            std::process::exit(if problem.is_empty() { 0 } else { 2 });
        }
    };
    match run(args).await {
        Ok(()) => println!("demo finished OK"),
        Err(error) => {
            println!("demo FAILED: {error}");
            std::process::exit(1);
        }
    }
}

fn step(started: Instant, what: &str) {
    println!("[{:>6} ms] {what}", started.elapsed().as_millis());
}

fn first_integer(rows: &[psync_core::Row]) -> Option<i64> {
    rows.first().and_then(|r| r.get(0)).and_then(Value::as_i64)
}

/// How many of this run's todos the service has echoed into the local op log.
const SYNCED_TODOS_SQL: &str =
    "SELECT count(*) FROM ps_oplog WHERE row_type = 'todos' AND row_id IN (?, ?)";

/// Polls until `sql` (one integer column) returns `expected`.
async fn wait_until(
    db: &SyncDatabase,
    what: &str,
    sql: &str,
    params: Vec<Value>,
    expected: i64,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if first_integer(&db.get_all(sql, params.clone()).await?) == Some(expected) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(psync_core::Error::state(format!(
                "timed out waiting for {what}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The service the demo talks to: one it started, or one given on the command line (which the
/// demo can only reach through the sync protocol and the upload URL).
enum Backend {
    Embedded {
        service: TestService,
        connector: Arc<ServiceConnector>,
    },
    External {
        connector: Arc<ExternalConnector>,
    },
}

impl Backend {
    async fn start(args: &Args) -> Result<Self> {
        let Some(external) = &args.external else {
            let service = TestService::start().await?;
            service.source().execute(
                "INSERT INTO lists(id, name, owner_id, created_at) VALUES ('l-server', 'Groceries (from the backend)', ?1, '2026-01-01')",
                [&args.user],
            ).map_err(|_| psync_core::Error::state("seeding the service failed"))?;
            let connector = Arc::new(ServiceConnector::new(service.url(), &args.user));
            return Ok(Self::Embedded { service, connector });
        };
        let connector = Arc::new(ExternalConnector::new(
            &external.endpoint,
            external.tokens.clone(),
            &external.upload_url,
        ));
        Ok(Self::External { connector })
    }

    fn describe(&self) -> String {
        match self {
            Self::Embedded { service, .. } => {
                format!("test service listening on {}", service.url())
            }
            Self::External { .. } => "syncing with the service given by --endpoint".to_owned(),
        }
    }

    fn connector(&self) -> Arc<dyn BackendConnector> {
        match self {
            Self::Embedded { connector, .. } => connector.clone(),
            Self::External { connector } => connector.clone(),
        }
    }

    fn uploaded(&self) -> usize {
        match self {
            Self::Embedded { connector, .. } => connector.uploaded.load(Ordering::SeqCst),
            Self::External { connector } => connector.uploaded.load(Ordering::SeqCst),
        }
    }

    /// The backend's todo count, when the demo can read the backend.
    fn backend_todos(&self) -> Result<Option<i64>> {
        let Self::Embedded { service, .. } = self else {
            return Ok(None);
        };
        service
            .source()
            .query_row("SELECT count(*) FROM todos", [], |r| r.get::<_, i64>(0))
            .map(Some)
            .map_err(|_| psync_core::Error::state("reading the service failed"))
    }

    /// Adds a list on the backend side, when the demo can write to the backend.
    fn add_server_list(&self, user: &str) -> Result<bool> {
        let Self::Embedded { service, .. } = self else {
            return Ok(false);
        };
        service
            .source()
            .execute(
                "INSERT INTO lists(id, name, owner_id) VALUES ('l-late', 'Added by the backend later', ?1)",
                [user],
            )
            .map_err(|_| psync_core::Error::state("writing the service failed"))?;
        Ok(true)
    }
}

/// Ids unique to this run, so the demo can run again against the same backend.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:x}", nanos & 0xffff_ffff_ffff)
}

async fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    let backend = Backend::start(&args).await?;
    step(started, &backend.describe());
    let user = args.user.as_str();

    let dir = tempfile::tempdir()?;
    let db = open_demo_database(Some(&dir.path().join("demo.db")))?;
    step(started, "opened the local database");

    let timeline_start = started;
    let _listener = db.add_status_listener(Box::new(move |status| {
        println!(
            "[{:>6} ms]   status: {}",
            timeline_start.elapsed().as_millis(),
            status.summary()
        );
    }));

    let log_start = started;
    db.set_logger(Some(Arc::new(move |level, line| {
        if level >= LogLevel::Info {
            println!(
                "[{:>6} ms]   log {level:?}: {line}",
                log_start.elapsed().as_millis()
            );
        }
    })));

    let options = SyncOptions {
        retry_delay: Duration::from_millis(500),
        crud_throttle: Duration::from_millis(50),
        use_bson: args.use_bson,
        checkpoint_mode: if args.legacy_checkpoints {
            CheckpointMode::Legacy
        } else {
            CheckpointMode::Requests
        },
        ..SyncOptions::default()
    };
    db.connect(backend.connector(), options).await?;
    step(started, "connect() called");
    db.wait_for_first_sync(None, Some(Duration::from_secs(30)))
        .await
        .map_err(|e| psync_core::Error::state(e.to_string()))?;
    let lists = db
        .get_all("SELECT name FROM lists ORDER BY id", vec![])
        .await?;
    step(
        started,
        &format!("first sync complete: {} list(s) downloaded", lists.len()),
    );

    let list_id = format!("l-{}", run_id());
    db.execute(
        "INSERT INTO lists(id, name, owner_id, created_at) VALUES (?, 'Written offline-first', ?, '2026-01-02')",
        vec![Value::Text(list_id.clone()), Value::Text(user.into())],
    )
    .await?;
    let todo_ids: Vec<Value> = (0..2)
        .map(|i| Value::Text(format!("{list_id}-t{i}")))
        .collect();
    for (id, text) in todo_ids.iter().zip(["buy milk", "write demo"]) {
        db.execute(
            "INSERT INTO todos(id, list_id, description, completed, owner_id) VALUES (?, ?, ?, 0, ?)",
            vec![
                id.clone(),
                Value::Text(list_id.clone()),
                Value::Text(text.into()),
                Value::Text(user.into()),
            ],
        )
        .await?;
    }
    step(started, "wrote 1 list and 2 todos locally");
    wait_until(
        &db,
        "the upload queue to drain",
        "SELECT count(*) FROM ps_crud",
        vec![],
        0,
    )
    .await?;
    step(
        started,
        &format!(
            "upload queue empty ({} transaction(s) uploaded)",
            backend.uploaded()
        ),
    );

    if args.legacy_checkpoints {
        // Legacy mode has no checkpoint requests: the write checkpoint fetched after the upload
        // round is applied once the service's copy of the uploads has arrived.
        wait_until(
            &db,
            "the legacy write checkpoint",
            SYNCED_TODOS_SQL,
            todo_ids.clone(),
            2,
        )
        .await?;
        step(started, "legacy write checkpoint applied locally");
    } else {
        let request = db
            .request_checkpoint()
            .await
            .map_err(|e| psync_core::Error::state(e.to_string()))?;
        step(
            started,
            &format!("checkpoint request {} acknowledged", request.id()),
        );
        request
            .wait_for_sync(Some(Duration::from_secs(10)))
            .await
            .map_err(|e| psync_core::Error::state(e.to_string()))?;
        step(
            started,
            &format!("checkpoint request {} applied locally", request.id()),
        );
    }

    // The write barrier: once the request is applied, the service's copy of this run's todos
    // (echoed through the sync stream) is in the local op log.
    let synced_todos = first_integer(&db.get_all(SYNCED_TODOS_SQL, todo_ids).await?).unwrap_or(0);
    let backend_todos = match backend.backend_todos()? {
        Some(count) => format!(", backend todos: {count}"),
        None => String::new(),
    };
    step(
        started,
        &format!("this run's todos downloaded from the service: {synced_todos}/2{backend_todos}"),
    );
    if synced_todos != 2 {
        return Err(psync_core::Error::state(
            "the checkpoint was applied without this run's uploaded todos",
        ));
    }

    let mut watcher = db.watch("SELECT count(*) FROM lists", vec![])?;
    let initial = first_integer(&watcher.next().await?);
    if backend.add_server_list(user)? {
        let updated = tokio::time::timeout(Duration::from_secs(10), watcher.next())
            .await
            .map_err(|_| psync_core::Error::state("watch timed out"))??;
        step(
            started,
            &format!("watch: lists {initial:?} -> {:?}", first_integer(&updated)),
        );
    } else {
        step(
            started,
            &format!("watch: lists {initial:?} (the demo cannot write to an external backend)"),
        );
    }

    db.close().await?;
    step(started, "closed");
    Ok(())
}
