// SPDX-License-Identifier: Apache-2.0
//! A loopback TCP proxy whose behaviour can be switched while connections are open: pass,
//! blackhole (accept and hold, forward nothing), delay, throttle, reset (RST).
//!
//! ```no_run
//! # async fn demo(upstream: std::net::SocketAddr) -> std::io::Result<()> {
//! use psync_chaos::proxy::{Mode, Proxy};
//! let proxy = Proxy::start(upstream).await?;   // listens on 127.0.0.1:<ephemeral>
//! let url = format!("http://{}", proxy.addr());
//! proxy.set_mode(Mode::Delay(std::time::Duration::from_millis(300)));
//! proxy.set_mode(Mode::Reset);                 // open connections get an RST, new ones too
//! proxy.set_mode(Mode::Pass);
//! # Ok(()) }
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with bytes and connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward everything at once.
    Pass,
    /// Accept connections and read from them, but forward nothing (held until the mode
    /// changes, like packets a broken route keeps dropping while TCP retransmits).
    Blackhole,
    /// Forward each chunk after this delay.
    Delay(Duration),
    /// Forward at most this many bytes per second in each direction.
    Throttle(u64),
    /// Reset open connections (RST) and every new one.
    Reset,
}

/// A running proxy; dropping it stops accepting and resets open connections.
pub struct Proxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    accepted: Arc<AtomicU64>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on 127.0.0.1 (ephemeral port) and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (mode, _) = watch::channel(Mode::Pass);
        let accepted = Arc::new(AtomicU64::new(0));
        let modes = mode.clone();
        let count = Arc::clone(&accepted);
        let accept_task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(client, upstream, modes.subscribe()));
            }
        });
        Ok(Self {
            addr,
            mode,
            accepted,
            accept_task,
        })
    }

    /// The local address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches the mode; open connections follow at once.
    pub fn set_mode(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// How many connections were accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept_task.abort();
        self.mode.send_replace(Mode::Reset);
    }
}

/// Closes with an RST instead of a FIN.
fn reset(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "proxy reset")
}

async fn serve(mut client: TcpStream, upstream: SocketAddr, mode: watch::Receiver<Mode>) {
    if *mode.borrow() == Mode::Reset {
        return reset(&client);
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return reset(&client);
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let outcome = {
        let (client_read, client_write) = client.split();
        let (server_read, server_write) = server.split();
        tokio::try_join!(
            pump(client_read, server_write, mode.clone()),
            pump(server_read, client_write, mode),
        )
    };
    if outcome.is_err() {
        reset(&client);
        reset(&server);
    }
}

/// Copies one direction until EOF (then half-closes) or a reset.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mut mode: watch::Receiver<Mode>,
) -> io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            read = from.read(&mut buf) => read?,
            () = until_reset(mode.clone()) => return Err(reset_error()),
        };
        if n == 0 {
            let _ = to.shutdown().await;
            return Ok(());
        }
        let resets = mode.clone();
        tokio::select! {
            written = forward(&buf[..n], &mut to, &mut mode) => written?,
            () = until_reset(resets) => return Err(reset_error()),
        }
    }
}

async fn until_reset(mut mode: watch::Receiver<Mode>) {
    let _ = mode.wait_for(|m| *m == Mode::Reset).await;
}

/// Writes `data` as the mode at each moment allows.
async fn forward(
    mut data: &[u8],
    to: &mut (impl AsyncWrite + Unpin),
    mode: &mut watch::Receiver<Mode>,
) -> io::Result<()> {
    /// Throttled bytes go out in slices this often.
    const TICK: Duration = Duration::from_millis(50);
    while !data.is_empty() {
        let current = *mode.borrow_and_update();
        match current {
            Mode::Pass => {
                to.write_all(data).await?;
                return Ok(());
            }
            Mode::Blackhole => {
                mode.changed().await.map_err(|_| reset_error())?;
            }
            Mode::Reset => return Err(reset_error()),
            Mode::Delay(delay) => {
                tokio::time::sleep(delay).await;
                to.write_all(data).await?;
                return Ok(());
            }
            Mode::Throttle(bytes_per_second) => {
                let slice = usize::try_from(bytes_per_second / 20)
                    .unwrap_or(usize::MAX)
                    .clamp(1, data.len());
                to.write_all(&data[..slice]).await?;
                data = &data[slice..];
                tokio::time::sleep(TICK).await;
            }
        }
    }
    Ok(())
}
