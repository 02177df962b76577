// SPDX-License-Identifier: Apache-2.0
//! The binary prints its URL first and exits when stdin closes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use psync_test_support::wait::until_blocking;

use crate::common;

#[test]
fn prints_url_and_exits_when_stdin_closes() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_psync-test-service"))
        .args(["--port", "0", "--keepalive-ms", "1000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("first line");
    let url = first.trim().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let status = runtime.block_on(async {
        common::client()
            .post(format!("{url}/api/auth/token"))
            .json(&serde_json::json!({"user_id": "u1"}))
            .send()
            .await
            .expect("request")
            .status()
    });
    assert_eq!(status, 200);
    drop(child.stdin.take());
    let mut exit = None;
    until_blocking("the service exits after stdin closed", || {
        exit = child.try_wait().expect("wait");
        exit.is_some()
    });
    assert!(exit.is_some_and(|status| status.success()));
}

#[test]
fn exits_on_sigterm_while_stdin_stays_open() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_psync-test-service"))
        .args(["--port", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("first line");
    assert!(first.starts_with("http://127.0.0.1:"), "{first}");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    until_blocking("the service exits on SIGTERM", || {
        child.try_wait().expect("wait").is_some()
    });
    drop(child.stdin.take());
}

#[test]
fn bad_arguments_fail_with_usage() {
    let output = Command::new(env!("CARGO_BIN_EXE_psync-test-service"))
        .args(["--bogus"])
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage"));
    assert!(output.stdout.is_empty());
}

#[test]
fn prints_the_default_config() {
    let output = Command::new(env!("CARGO_BIN_EXE_psync-test-service"))
        .arg("--print-default-config")
        .output()
        .expect("run");
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("utf8");
    let config = psync_test_service::SyncConfig::from_json(&text).expect("valid config");
    assert_eq!(config, psync_test_service::SyncConfig::default());
}
