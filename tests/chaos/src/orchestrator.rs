// SPDX-License-Identifier: Apache-2.0
//! A run: the service process on a source database file, a faulty proxy in front of it, N
//! client processes; M seconds of random faults (client SIGKILLs, service faults, proxy
//! faults, service SIGKILL + restart); then faults stop and the end state is checked.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::ack_log::Expected;
use crate::checks::Rows;
use crate::clients::{ClientLauncher, ClientProcess, Event, client_name};
use crate::faults::Windows;
use crate::health;
use crate::rng::Rng;
use crate::service_process::ServiceProcess;
use crate::summary::Summary;
use psync_test_support::proxy::Proxy;

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Client processes.
    pub clients: usize,
    /// Time with faults.
    pub duration: Duration,
    /// Seed of every random choice of the orchestrator (clients get seeds derived from it).
    pub seed: u64,
    /// The `psync-chaos-client` binary.
    pub client_bin: PathBuf,
    /// The `psync-test-service` binary.
    pub service_bin: PathBuf,
    /// Max live rows per client.
    pub max_rows: usize,
    /// How often client 0's resource use is sampled.
    pub health_every: Duration,
    /// Print progress lines (stderr).
    pub verbose: bool,
}

/// What a run has going on.
struct Run {
    config: Config,
    rng: Rng,
    summary: Summary,
    events: mpsc::UnboundedReceiver<Event>,
    /// Per client: kills whose end-of-stdout is still to come.
    expected_exits: Vec<u32>,
    /// Per client: its final report lines (`synced`, `state`, `closed`).
    finals: Vec<Vec<String>>,
    drained: usize,
}

/// Runs the whole thing and returns the figures (the caller decides about `passed()`).
pub async fn run(config: Config) -> io::Result<Summary> {
    let dir = tempfile::Builder::new().prefix("psync-chaos-").tempdir()?;
    let mut service =
        ServiceProcess::start(&config.service_bin, &dir.path().join("source.db")).await?;
    let proxy = Proxy::start(([127, 0, 0, 1], service.port()).into()).await?;
    let (sender, events) = mpsc::unbounded_channel();
    let launcher = ClientLauncher {
        binary: config.client_bin.clone(),
        url: format!("http://{}", proxy.addr()),
        admin_url: service.url(),
        max_rows: config.max_rows,
        events: sender,
    };
    let mut run = Run {
        rng: Rng::new(config.seed),
        summary: Summary {
            seed: config.seed,
            clients: config.clients,
            seconds: config.duration.as_secs(),
            ..Summary::default()
        },
        events,
        expected_exits: vec![0; config.clients],
        finals: vec![Vec::new(); config.clients],
        drained: 0,
        config,
    };
    let mut clients = Vec::new();
    for index in 0..run.config.clients {
        let seed = run.rng.next_u64();
        clients.push(launcher.start(index, dir.path(), seed)?);
    }

    run.chaos(&launcher, &mut clients, &mut service, &proxy)
        .await?;
    run.finish(&mut clients).await?;
    let backend = service.backend_rows().await?;
    run.verify(&clients, &backend)?;
    if !run.summary.passed() {
        let kept = dir.keep();
        eprintln!(
            "psync-chaos: files of the failed run kept in {}",
            kept.display()
        );
    }
    Ok(run.summary)
}

impl Run {
    fn log(&self, what: &str) {
        if self.config.verbose {
            eprintln!("psync-chaos: {what}");
        }
    }

    /// Handles the client lines that arrived; `Some(client)` when one died unexpectedly.
    fn handle(&mut self, (index, line): Event) -> Option<usize> {
        let Some(line) = line else {
            if self.expected_exits[index] > 0 {
                self.expected_exits[index] -= 1;
                return None;
            }
            return Some(index);
        };
        let (word, rest) = line.split_once(' ').unwrap_or((&line, ""));
        match word {
            "violation" => {
                self.log(&format!("{} {line}", client_name(index)));
                self.summary
                    .violations
                    .push(format!("{}: {rest}", client_name(index)));
            }
            "failed" => self
                .summary
                .client_failures
                .push(format!("{}: {rest}", client_name(index))),
            "barrier" if rest == "ok" => self.summary.barriers_checked += 1,
            "barrier" => {
                self.log(&format!("{} {line}", client_name(index)));
                self.summary.barriers_interrupted += 1;
            }
            "drained" => self.drained += 1,
            "synced" | "state" | "closed" => self.finals[index].push(line),
            _ => {}
        }
        None
    }

    fn drain_events(&mut self) -> Vec<usize> {
        let mut died = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            died.extend(self.handle(event));
        }
        died
    }

    async fn chaos(
        &mut self,
        launcher: &ClientLauncher,
        clients: &mut [ClientProcess],
        service: &mut ServiceProcess,
        proxy: &Proxy,
    ) -> io::Result<()> {
        let started = Instant::now();
        let mut windows = Windows::default();
        let mut next_sample = started + self.config.health_every;
        while started.elapsed() < self.config.duration {
            if Instant::now() >= next_sample {
                let at = started.elapsed().as_secs();
                self.summary
                    .health
                    .extend(clients[0].pid().and_then(|pid| health::sample(pid, at)));
                next_sample += self.config.health_every;
            }
            for index in self.drain_events() {
                self.log(&format!(
                    "{} exited unexpectedly; restarting",
                    client_name(index)
                ));
                self.summary
                    .client_failures
                    .push(format!("{} exited unexpectedly", client_name(index)));
                launcher.respawn(&mut clients[index], self.rng.next_u64())?;
            }
            windows.expire(proxy, service).await;
            let step = Duration::from_millis(self.rng.between(200, 1200));
            match self.rng.below(100) {
                // Client 0 is never killed: its resource use is sampled over the whole run.
                0..=24 if clients.len() > 1 => {
                    let index = 1 + self.rng.below(clients.len() as u64 - 1) as usize;
                    self.log(&format!("kill {}", client_name(index)));
                    self.expected_exits[index] += 1;
                    clients[index].kill().await;
                    self.summary.client_kills += 1;
                    tokio::time::sleep(Duration::from_millis(self.rng.below(500))).await;
                    launcher.respawn(&mut clients[index], self.rng.next_u64())?;
                }
                25..=44 => windows.proxy_fault(&mut self.rng, proxy, &mut self.summary),
                45..=64 => {
                    windows
                        .service_fault(&mut self.rng, service, &mut self.summary)
                        .await;
                }
                65..=71 => {
                    self.log("kill the service");
                    service.kill().await;
                    tokio::time::sleep(Duration::from_millis(self.rng.between(100, 1500))).await;
                    service.restart().await?;
                    self.summary.service_restarts += 1;
                }
                _ => {}
            }
            tokio::time::sleep(step).await;
        }
        windows.stop_all(proxy, service).await;
        self.log("faults stopped");
        Ok(())
    }

    async fn next_event(&mut self, deadline: Instant) -> io::Result<()> {
        let event = tokio::time::timeout_at(deadline.into(), self.events.recv())
            .await
            .map_err(|_| io::Error::other("timed out waiting for the clients"))?
            .ok_or_else(|| io::Error::other("event channel closed"))?;
        if let Some(index) = self.handle(event) {
            // Exits after `sync` are expected: the client closed and ended.
            if !self.finals[index].iter().any(|l| l.starts_with("closed")) {
                self.summary.client_failures.push(format!(
                    "{} exited before its final report",
                    client_name(index)
                ));
            }
            self.finals[index].push("exited".to_owned());
        }
        Ok(())
    }

    /// Stops the writes, lets uploads drain, then one checkpoint request per client.
    async fn finish(&mut self, clients: &mut [ClientProcess]) -> io::Result<()> {
        for client in clients.iter_mut() {
            client.command("stop", false).await;
        }
        let deadline = Instant::now() + Duration::from_secs(150);
        while self.drained < clients.len() && self.summary.client_failures.is_empty() {
            self.next_event(deadline).await?;
        }
        for client in clients.iter_mut() {
            client.command("sync", true).await;
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.finals.iter().any(|f| !f.iter().any(|l| l == "exited")) {
            self.next_event(deadline).await?;
        }
        for client in clients.iter_mut() {
            client.wait().await;
        }
        Ok(())
    }

    /// Compares logs, client states and the backend.
    fn verify(&mut self, clients: &[ClientProcess], backend: &Rows) -> io::Result<()> {
        for (index, client) in clients.iter().enumerate() {
            let expected = Expected::read(&client.log)?;
            self.summary.acknowledged += expected.writes;
            let (lost, phantom) = expected.compare(backend, &format!("{}-", client_name(index)));
            for problem in &lost {
                eprintln!("psync-chaos: LOST {problem}");
            }
            self.summary.lost += lost.len() as u64;
            self.summary.phantom += phantom;
            for line in &self.finals[index] {
                if let Some(ms) = line.strip_prefix("synced ") {
                    let took = Duration::from_millis(ms.parse().unwrap_or(u64::MAX));
                    self.summary.max_recovery = self.summary.max_recovery.max(took);
                } else if let Some(json) = line.strip_prefix("state ") {
                    let state: Rows = serde_json::from_str(json).map_err(io::Error::other)?;
                    if &state != backend {
                        self.summary.diverged += 1;
                    }
                } else if let Some(counts) = line.strip_prefix("closed ") {
                    let mut parts = counts.split(' ').filter_map(|n| n.parse().ok());
                    if let (0, Some(start), Some(end)) = (index, parts.next(), parts.next()) {
                        self.summary.threads_at_close = Some((start, end));
                    }
                }
            }
        }
        Ok(())
    }
}
