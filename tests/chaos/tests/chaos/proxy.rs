// SPDX-License-Identifier: Apache-2.0
//! The fault modes of the test-support proxy against a loopback echo server.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use psync_test_support::proxy::{Mode, Proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = stream.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    addr
}

async fn round_trip(stream: &mut TcpStream, data: &[u8]) -> std::io::Result<Vec<u8>> {
    stream.write_all(data).await?;
    let mut back = vec![0; data.len()];
    stream.read_exact(&mut back).await?;
    Ok(back)
}

#[tokio::test]
async fn modes_switch_while_connections_are_open() {
    let proxy = Proxy::start(echo_server().await).await.expect("proxy");
    assert!(proxy.addr().ip().is_loopback());
    let mut stream = TcpStream::connect(proxy.addr()).await.expect("connect");
    assert_eq!(
        round_trip(&mut stream, b"pass").await.expect("pass"),
        b"pass"
    );

    proxy.set_mode(Mode::Delay(Duration::from_millis(200)));
    let started = Instant::now();
    round_trip(&mut stream, b"delayed").await.expect("delay");
    // Each direction waits once.
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );

    proxy.set_mode(Mode::Throttle(2_000));
    let started = Instant::now();
    round_trip(&mut stream, &[7; 400]).await.expect("throttle");
    // 400 bytes at 2000 B/s go out in slices of 100 B every 50 ms (the echo pipelines them
    // back): at least 150 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );

    proxy.set_mode(Mode::Blackhole);
    stream.write_all(b"held").await.expect("write");
    let mut byte = [0; 4];
    let held = tokio::time::timeout(Duration::from_millis(300), stream.read_exact(&mut byte)).await;
    assert!(held.is_err(), "nothing passes a blackhole");
    proxy.set_mode(Mode::Pass);
    stream.read_exact(&mut byte).await.expect("released");
    assert_eq!(&byte, b"held");

    proxy.set_mode(Mode::Reset);
    let mut rest = Vec::new();
    let reset = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut rest))
        .await
        .expect("the reset arrives");
    assert_eq!(
        reset.expect_err("an RST, not a clean close").kind(),
        std::io::ErrorKind::ConnectionReset
    );
    let mut fresh = TcpStream::connect(proxy.addr()).await.expect("accepted");
    assert!(
        round_trip(&mut fresh, b"x").await.is_err(),
        "new connections are reset too"
    );

    proxy.set_mode(Mode::Pass);
    let mut again = TcpStream::connect(proxy.addr()).await.expect("connect");
    assert_eq!(
        round_trip(&mut again, b"ok").await.expect("pass again"),
        b"ok"
    );
    assert_eq!(proxy.accepted(), 3);
}
