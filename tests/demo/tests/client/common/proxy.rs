// SPDX-License-Identifier: Apache-2.0
//! A loopback TCP proxy in front of the test service, optionally terminating TLS, that counts
//! the client connections it has open. Lets tests serve `https://` with a throwaway CA and see
//! when the client lets go of its connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use psync_core::Result;
use psync_core::client::{BackendConnector, Credentials, SyncDatabase};
use psync_demo::ServiceConnector;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// A throwaway certificate authority.
pub struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    /// The CA certificate, PEM.
    pub pem: String,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let key = rcgen::KeyPair::generate().expect("CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("CA certificate");
        Self {
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A server configuration presenting a certificate for `names` (DNS names or IPs).
    pub fn server_config(&self, names: &[&str]) -> Arc<rustls::ServerConfig> {
        let key = rcgen::KeyPair::generate().expect("server key");
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = rcgen::CertificateParams::new(names).expect("server params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "psync test server");
        let cert = params.signed_by(&key, &self.issuer).expect("server cert");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key.into())
            .expect("server config");
        Arc::new(config)
    }
}

/// The proxy; stops accepting when dropped.
pub struct Proxy {
    addr: SocketAddr,
    open: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Proxy {
    /// Listens on 127.0.0.1 and forwards every connection to `upstream`, terminating TLS
    /// with `tls` if given.
    pub async fn start(upstream: SocketAddr, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let open = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let acceptor = tls.map(TlsAcceptor::from);
        let (open_count, accepted_count) = (Arc::clone(&open), Arc::clone(&accepted));
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                accepted_count.fetch_add(1, Ordering::SeqCst);
                open_count.fetch_add(1, Ordering::SeqCst);
                let guard = OpenGuard(Arc::clone(&open_count));
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _guard = guard;
                    match acceptor {
                        Some(acceptor) => {
                            // A client that rejects the certificate ends the handshake here.
                            if let Ok(client) = acceptor.accept(client).await {
                                forward(client, upstream).await;
                            }
                        }
                        None => forward(client, upstream).await,
                    }
                });
            }
        });
        Self {
            addr,
            open,
            accepted,
            task,
        }
    }

    /// `http://127.0.0.1:port` or `https://<host>:port` (the proxy listens on 127.0.0.1 only).
    pub fn url(&self, scheme: &str, host: &str) -> String {
        format!("{scheme}://{host}:{}", self.addr.port())
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Client connections currently open.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Client connections accepted so far.
    pub fn accepted_connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Waits until no client connection is open; `false` after `timeout`.
    pub async fn wait_until_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.open_connections() > 0 {
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies both ways until either side closes (an HTTP client never half-closes, so EOF from
/// it means it let go of the connection).
async fn forward<S: AsyncRead + AsyncWrite + Unpin>(client: S, upstream: SocketAddr) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut server_read, mut server_write) = server.into_split();
    tokio::select! {
        _ = tokio::io::copy(&mut client_read, &mut server_write) => {}
        _ = tokio::io::copy(&mut server_read, &mut client_write) => {}
    }
}

/// A [`ServiceConnector`] whose credentials point the sync client at another endpoint (the
/// proxy); tokens and uploads still go straight to the service.
pub struct EndpointConnector {
    pub inner: Arc<ServiceConnector>,
    pub endpoint: String,
}

#[async_trait]
impl BackendConnector for EndpointConnector {
    async fn fetch_credentials(&self) -> Result<Option<Credentials>> {
        Ok(self.inner.fetch_credentials().await?.map(|c| Credentials {
            endpoint: self.endpoint.clone(),
            token: c.token,
        }))
    }

    async fn upload_data(&self, database: &SyncDatabase) -> Result<()> {
        self.inner.upload_data(database).await
    }

    async fn invalidate_credentials(&self) {
        self.inner.invalidate_credentials().await;
    }
}
