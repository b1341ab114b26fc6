//! gevent's `examples/echoserver.py` with TLS: a line echo server on `StreamServer`,
//! each connection wrapped in rustls's blocking `StreamOwned` over our green
//! `TcpStream`, exactly as one wraps std's. The certificate is a throwaway one for
//! "localhost", made by rcgen at start.
//!
//! ```text
//! cargo run --release --example tls_echo -- serve [ADDR] [--hubs N]   # 127.0.0.1:8443, until killed
//! openssl s_client -connect 127.0.0.1:8443 -servername localhost -CAfile CERT  # CERT: printed at start
//! cargo run --release --example tls_echo                               # demo: serve, clients, stop
//! ```
//!
//! The demo serves on two hubs, runs 100 TLS clients at once on the main thread's
//! hub (20 with `GREENLET_FAST=1`), checks every echoed line and the clean TLS close
//! both ways, stops the server and prints its report.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlet::net::TcpStream;
use greenlet::server::StreamServer;
use rustls::StreamOwned;
use rustls::crypto::ring;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

/// A self-signed certificate for "localhost": its DER, its PEM, and its key.
struct Throwaway {
    cert: CertificateDer<'static>,
    pem: String,
    key: PrivateKeyDer<'static>,
}

fn throwaway_cert() -> Throwaway {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("rcgen makes a certificate");
    Throwaway {
        cert: ck.cert.der().clone(),
        pem: ck.cert.pem(),
        key: PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()).into(),
    }
}

/// rustls on the ring provider, passed explicitly (no process-wide default).
fn server_config(t: &Throwaway) -> Arc<ServerConfig> {
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_no_client_auth()
        .with_single_cert(vec![t.cert.clone()], t.key.clone_key())
        .expect("the certificate and key match");
    Arc::new(config)
}

fn client_config(t: &Throwaway) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(t.cert.clone()).expect("a valid certificate");
    let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// Greets, then echoes each line back until the client says "quit" or hangs up;
/// ends with a TLS close_notify.
fn handle(tcp: TcpStream, config: Arc<ServerConfig>) -> io::Result<()> {
    let conn = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut tls = BufReader::new(StreamOwned::new(conn, tcp));
    tls.get_mut()
        .write_all(b"Welcome to the echo server! Type quit to exit.\r\n")?;
    tls.get_mut().flush()?;
    let mut line = String::new();
    loop {
        line.clear();
        if tls.read_line(&mut line)? == 0 || line.trim() == "quit" {
            break;
        }
        tls.get_mut().write_all(line.as_bytes())?;
        tls.get_mut().flush()?;
    }
    let tls = tls.get_mut();
    tls.conn.send_close_notify();
    tls.flush()
}

/// Serves on `hubs` hubs; logs handshake and IO errors instead of panicking.
fn start(addr: &str, hubs: usize, config: Arc<ServerConfig>) -> greenlet::server::ServerHandle {
    StreamServer::bind(addr)
        .expect("bind")
        .hubs(hubs)
        .serve(move |tcp, peer| {
            if let Err(e) = handle(tcp, config.clone()) {
                eprintln!("{peer}: {e}");
            }
        })
        .expect("serve")
}

/// What one client saw.
struct Seen {
    /// The protocol version and cipher suite negotiated.
    session: String,
    /// The echoes matched what was sent, and the server closed with a close_notify.
    ok: bool,
}

/// Connects with TLS, sends each text as a line, checks each echo, says quit, and
/// reads to the server's close_notify (a bare TCP close would be an error).
fn client(addr: SocketAddr, config: Arc<ClientConfig>, texts: &[String]) -> io::Result<Seen> {
    let tcp = TcpStream::connect(addr)?;
    let name = ServerName::try_from("localhost").expect("a valid DNS name");
    let conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
    let mut tls = BufReader::new(StreamOwned::new(conn, tcp));
    let mut welcome = String::new();
    tls.read_line(&mut welcome)?;
    let mut ok = welcome.starts_with("Welcome");
    for t in texts {
        tls.get_mut().write_all(format!("{t}\n").as_bytes())?;
        tls.get_mut().flush()?;
        let mut reply = String::new();
        tls.read_line(&mut reply)?;
        ok &= reply.trim_end() == t;
    }
    tls.get_mut().write_all(b"quit\n")?;
    tls.get_mut().flush()?;
    let mut rest = Vec::new();
    tls.read_to_end(&mut rest)?;
    ok &= rest.is_empty();
    let c = &tls.get_ref().conn;
    let session = format!(
        "{:?}, {:?}",
        c.protocol_version().expect("negotiated"),
        c.negotiated_cipher_suite().expect("negotiated").suite()
    );
    Ok(Seen { session, ok })
}

/// `serve [ADDR] [--hubs N]`, in any order.
fn serve_args(args: &[String]) -> (String, usize) {
    let (mut addr, mut hubs) = ("127.0.0.1:8443".to_string(), 1);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--hubs" {
            let n = it.next().expect("--hubs N");
            hubs = n.parse().expect("--hubs N: a number (0: one per CPU)");
        } else {
            addr = a.clone();
        }
    }
    (addr, hubs)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cert = throwaway_cert();
    if args.first().map(String::as_str) == Some("serve") {
        let (addr, hubs) = serve_args(&args[1..]);
        let hubs = greenlet::Hubs::new(hubs).len(); // 0: one per CPU
        let pem_path = std::env::temp_dir().join("greenlet-tls_echo-cert.pem");
        std::fs::write(&pem_path, &cert.pem).expect("write the certificate");
        let server = start(&addr, hubs, server_config(&cert));
        let s = if hubs == 1 { "" } else { "s" };
        println!(
            "TLS echo server on {} ({hubs} hub{s}); its certificate: {}",
            server.local_addr(),
            pem_path.display()
        );
        server.join();
        return;
    }
    demo(&cert);
}

fn demo(cert: &Throwaway) {
    let clients = if std::env::var_os("GREENLET_FAST").is_some() {
        20
    } else {
        100
    };
    let server = start("127.0.0.1:0", 2, server_config(cert));
    let addr = server.local_addr();
    println!("TLS echo server on {addr} (2 hubs)");
    let config = client_config(cert);
    let t = Instant::now();
    let gs: Vec<_> = (0..clients)
        .map(|i| {
            let config = config.clone();
            greenlet::spawn(move || {
                let texts = vec![format!("hello from client {i}"), format!("bye from {i}")];
                client(addr, config, &texts)
            })
        })
        .collect();
    let seen: Vec<Seen> = greenlet::joinall(gs)
        .into_iter()
        .map(|r| r.expect("client greenlet").expect("client"))
        .collect();
    let elapsed = t.elapsed();
    println!("client 0 negotiated {}", seen[0].session);
    let ok = seen.iter().filter(|s| s.ok).count();
    println!("{ok}/{clients} TLS clients got their lines echoed in {elapsed:?}");
    server.stop(Duration::from_secs(1));
    let report = server.join();
    println!(
        "served {} TLS connections on 2 hubs (per hub: {:?}), {} killed at stop, {} handler panics",
        report.served, report.per_hub, report.killed_at_stop, report.handler_panics
    );
}
