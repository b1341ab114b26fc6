//! TLS over our `TcpStream`: rustls's blocking `StreamOwned` works on a green socket
//! as on std's, 200 clients at once on one hub, every byte checked.
//!
//! The clients are greenlets of the test's hub. Each one holds its TLS session open
//! until all 200 have shaken hands (a barrier), so the handshakes and echoes really
//! are concurrent: a call that blocked the thread instead of parking the greenlet
//! would hang them (the timeout reports it), and the servers count the peak of
//! sessions open at once.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use greenlet::net::{TcpListener, TcpStream};
use greenlet::server::StreamServer;
use greenlet::sync::Barrier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use rustls::{StreamOwned, crypto::ring};

const CLIENTS: usize = 200;
/// What each client sends, and must get back.
const BYTES: usize = 16 * 1024;
/// Written and echoed one piece at a time: not a divisor of `BYTES`, and not a TLS
/// record size, so that records and reads do not line up.
const CHUNK: usize = 1500;

/// A server and a client config that trust one throwaway certificate for
/// "localhost", on the ring provider (no process-wide default is installed).
fn configs() -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert: CertificateDer<'static> = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let provider = Arc::new(ring::default_provider());
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

/// Client `id`'s bytes: a xorshift stream seeded by the id, so that no two clients
/// send the same data and a byte echoed to the wrong client, or out of place, shows.
fn pattern(id: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (id as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (0..BYTES)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// What the servers count.
#[derive(Default)]
struct Counts {
    open: AtomicUsize,
    peak: AtomicUsize,
    echoed: AtomicU64,
    errors: AtomicUsize,
}

/// The server's side of one connection: echo until the client's close_notify, then
/// send ours.
fn echo_tls(tcp: TcpStream, config: Arc<ServerConfig>, counts: &Counts) {
    let open = counts.open.fetch_add(1, Ordering::SeqCst) + 1;
    counts.peak.fetch_max(open, Ordering::SeqCst);
    let result = (|| -> io::Result<()> {
        let conn = ServerConnection::new(config).map_err(io::Error::other)?;
        let mut tls = StreamOwned::new(conn, tcp);
        let mut buf = [0; 4096];
        loop {
            let n = tls.read(&mut buf)?;
            if n == 0 {
                break; // close_notify: a clean end, not a bare TCP close
            }
            tls.write_all(&buf[..n])?;
            tls.flush()?;
            counts.echoed.fetch_add(n as u64, Ordering::SeqCst);
        }
        tls.conn.send_close_notify();
        tls.flush()
    })();
    if let Err(e) = result {
        eprintln!("server: {e}");
        counts.errors.fetch_add(1, Ordering::SeqCst);
    }
    counts.open.fetch_sub(1, Ordering::SeqCst);
}

/// One client: handshake and the first chunk's round trip, the barrier, then the
/// rest chunk by chunk, each echo compared, then a clean close both ways.
fn client(
    id: usize,
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    all: &Barrier,
) -> Result<(), String> {
    let err = |what: &str, e: io::Error| format!("client {id}: {what}: {e}");
    let tcp = TcpStream::connect(addr).map_err(|e| err("connect", e))?;
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(config, name).map_err(|e| format!("client {id}: {e}"))?;
    let mut tls = StreamOwned::new(conn, tcp);
    let data = pattern(id);
    let mut back = vec![0; CHUNK];
    for (i, chunk) in data.chunks(CHUNK).enumerate() {
        tls.write_all(chunk).map_err(|e| err("write", e))?;
        tls.flush().map_err(|e| err("flush", e))?;
        let back = &mut back[..chunk.len()];
        tls.read_exact(back).map_err(|e| err("read", e))?;
        if back != chunk {
            let at = back.iter().zip(chunk).position(|(a, b)| a != b).unwrap();
            return Err(format!("client {id}: byte {} differs", i * CHUNK + at));
        }
        if i == 0 {
            all.wait(); // every session is open and has echoed once
        }
    }
    tls.conn.send_close_notify();
    tls.flush().map_err(|e| err("close_notify", e))?;
    let mut rest = Vec::new();
    tls.read_to_end(&mut rest)
        .map_err(|e| err("reading the server's close_notify", e))?;
    if !rest.is_empty() {
        return Err(format!("client {id}: {} bytes after the echo", rest.len()));
    }
    Ok(())
}

/// Runs the 200 clients on this thread's hub and checks each one's result.
fn run_clients(addr: SocketAddr, config: Arc<ClientConfig>) {
    let all = Rc::new(Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (config, all) = (config.clone(), all.clone());
            greenlet::spawn(move || client(id, addr, config, &all))
        })
        .collect();
    let results = greenlet::with_timeout(Duration::from_secs(120), || greenlet::joinall(clients))
        .expect("the clients hung: a TLS call blocked instead of parking");
    for r in results {
        r.unwrap().unwrap();
    }
}

fn check_counts(counts: &Counts) {
    assert_eq!(counts.errors.load(Ordering::SeqCst), 0);
    assert_eq!(
        counts.echoed.load(Ordering::SeqCst),
        (CLIENTS * BYTES) as u64
    );
    assert_eq!(
        counts.peak.load(Ordering::SeqCst),
        CLIENTS,
        "sessions open at once"
    );
    assert_eq!(counts.open.load(Ordering::SeqCst), 0);
}

/// The shape: `StreamServer` on one hub, 200 TLS clients on the test's hub.
#[test]
fn stream_server_on_one_hub_echoes_200_tls_clients() {
    let (server_config, client_config) = configs();
    let counts = Arc::new(Counts::default());
    let c = counts.clone();
    let server = StreamServer::bind("127.0.0.1:0")
        .unwrap()
        .hubs(1)
        .serve(move |tcp, _peer| echo_tls(tcp, server_config.clone(), &c))
        .unwrap();
    run_clients(server.local_addr(), client_config);
    server.stop(Duration::from_secs(5));
    let report = server.join();
    assert_eq!(report.served, CLIENTS as u64);
    assert_eq!((report.killed_at_stop, report.handler_panics), (0, 0));
    check_counts(&counts);
}

/// Server and clients all on the test's one hub: 400 TLS endpoints, one thread.
#[test]
fn server_and_200_tls_clients_share_one_hub() {
    let (server_config, client_config) = configs();
    let counts = Arc::new(Counts::default());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let c = counts.clone();
    let server = greenlet::spawn(move || {
        let handlers: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (tcp, _) = listener.accept().unwrap();
                let (config, c) = (server_config.clone(), c.clone());
                greenlet::spawn(move || echo_tls(tcp, config, &c))
            })
            .collect();
        greenlet::joinall(handlers)
    });
    run_clients(addr, client_config);
    for r in server.join().unwrap() {
        r.unwrap();
    }
    check_counts(&counts);
}
