// SPDX-License-Identifier: Apache-2.0
//! A loopback TCP proxy in front of a server, the one proxy of the test suites:
//!
//! - its [`Mode`] can be switched while connections are open: pass, blackhole (accept and
//!   hold, forward nothing), delay, throttle, reset (RST) — the fault suite's network faults;
//! - it can terminate TLS with a certificate from a throwaway [`TestCa`], to serve `https://`
//!   in front of the plain-HTTP test service;
//! - it counts the connections it accepted and has open, so tests see when a client lets go.
//!
//! ```ignore
//! let proxy = Proxy::start(upstream).await?;   // listens on 127.0.0.1:<ephemeral>
//! let url = proxy.url("http", "127.0.0.1");
//! proxy.set_mode(Mode::Delay(Duration::from_millis(300)));
//! proxy.set_mode(Mode::Reset);                 // open connections get an RST, new ones too
//! proxy.set_mode(Mode::Pass);
//! ```

mod tls;

pub use tls::TestCa;
/// The TLS library the proxy terminates with (for checks on its process-wide state).
pub use tokio_rustls::rustls;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

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
    counts: Arc<Counts>,
    accept_task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Counts {
    accepted: AtomicUsize,
    open: AtomicUsize,
}

/// Counts a connection as open while it lives.
struct OpenConnection(Arc<Counts>);

impl OpenConnection {
    fn new(counts: &Arc<Counts>) -> Self {
        counts.accepted.fetch_add(1, Ordering::SeqCst);
        counts.open.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(counts))
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Proxy {
    /// Listens on 127.0.0.1 (ephemeral port) and forwards plain TCP to `upstream`.
    pub async fn start(upstream: SocketAddr) -> io::Result<Self> {
        Self::listen(upstream, None).await
    }

    /// Like [`Proxy::start`], terminating TLS with `config` (see [`TestCa::server_config`]).
    pub async fn start_tls(upstream: SocketAddr, config: Arc<ServerConfig>) -> io::Result<Self> {
        Self::listen(upstream, Some(TlsAcceptor::from(config))).await
    }

    async fn listen(upstream: SocketAddr, tls: Option<TlsAcceptor>) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (mode, _) = watch::channel(Mode::Pass);
        let counts = Arc::new(Counts::default());
        let (modes, task_counts) = (mode.clone(), Arc::clone(&counts));
        let accept_task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let open = OpenConnection::new(&task_counts);
                let (tls, modes) = (tls.clone(), modes.subscribe());
                tokio::spawn(async move {
                    serve(client, tls, upstream, modes).await;
                    drop(open);
                });
            }
        });
        Ok(Self {
            addr,
            mode,
            counts,
            accept_task,
        })
    }

    /// The local address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `<scheme>://<host>:<port>` (the proxy listens on 127.0.0.1 only; `host` may be a name
    /// resolving there, for certificate checks).
    pub fn url(&self, scheme: &str, host: &str) -> String {
        format!("{scheme}://{host}:{}", self.addr.port())
    }

    /// Switches the mode; open connections follow at once.
    pub fn set_mode(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.counts.accepted.load(Ordering::SeqCst)
    }

    /// Connections currently open.
    pub fn open_connections(&self) -> usize {
        self.counts.open.load(Ordering::SeqCst)
    }

    /// Waits until no connection is open; panics after [`crate::wait::WAIT`].
    pub async fn until_idle(&self) {
        crate::wait::until(
            format_args!("{} connection(s) still open", self.open_connections()),
            || self.open_connections() == 0,
        )
        .await;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept_task.abort();
        self.mode.send_replace(Mode::Reset);
    }
}

/// Closes the socket with an RST instead of a FIN (when its last handle goes).
fn reset(stream: &std::net::TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "proxy reset")
}

async fn serve(
    client: TcpStream,
    tls: Option<TlsAcceptor>,
    upstream: SocketAddr,
    mode: watch::Receiver<Mode>,
) {
    // A second handle on the client socket, to reset it whatever wraps the stream.
    let Ok((client_handle, client)) = client
        .into_std()
        .and_then(|s| Ok((s.try_clone()?, TcpStream::from_std(s)?)))
    else {
        return;
    };
    if *mode.borrow() == Mode::Reset {
        return reset(&client_handle);
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return reset(&client_handle);
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let outcome = match tls {
        // A client that rejects the certificate ends the handshake here.
        Some(acceptor) => match acceptor.accept(client).await {
            Ok(client) => relay(client, &mut server, mode).await,
            Err(_) => return,
        },
        None => relay(client, &mut server, mode).await,
    };
    if outcome.is_err() {
        reset(&client_handle);
        if let Ok(server) = server.into_std() {
            reset(&server);
        }
    }
}

/// Copies both ways until both sides closed (each EOF is passed on as a half-close) or the
/// mode resets the connection.
async fn relay(
    client: impl AsyncRead + AsyncWrite + Unpin,
    server: &mut TcpStream,
    mode: watch::Receiver<Mode>,
) -> io::Result<()> {
    let (client_read, client_write) = tokio::io::split(client);
    let (server_read, server_write) = server.split();
    tokio::try_join!(
        pump(client_read, server_write, mode.clone()),
        pump(server_read, client_write, mode),
    )
    .map(|_| ())
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
                return to.flush().await;
            }
            Mode::Blackhole => {
                mode.changed().await.map_err(|_| reset_error())?;
            }
            Mode::Reset => return Err(reset_error()),
            Mode::Delay(delay) => {
                tokio::time::sleep(delay).await;
                to.write_all(data).await?;
                return to.flush().await;
            }
            Mode::Throttle(bytes_per_second) => {
                let slice = usize::try_from(bytes_per_second / 20)
                    .unwrap_or(usize::MAX)
                    .clamp(1, data.len());
                to.write_all(&data[..slice]).await?;
                to.flush().await?;
                data = &data[slice..];
                tokio::time::sleep(TICK).await;
            }
        }
    }
    Ok(())
}
