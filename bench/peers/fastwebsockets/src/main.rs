// The fastwebsockets 0.10 echo server of the bench suite, written the way
// the crate's examples/echo_server.rs is: hyper's HTTP/1 server does the
// upgrade, one current-thread tokio runtime runs every connection, and a
// FragmentCollector hands whole messages to the echo loop, which writes
// each back with its own opcode. TCP_NODELAY is set as the other peers do
// (an echo must not wait for Nagle's timer).
//
// Usage: fastwebsockets-echo PORT (listens on 127.0.0.1:PORT, path /).
// With BENCH_TLS_CERT and BENCH_TLS_KEY naming PEM files it serves wss://
// (TLS 1.3 only, rustls with ring) instead, as every TLS-capable server of
// the suite does.
use std::sync::Arc;

use fastwebsockets::upgrade;
use fastwebsockets::OpCode;
use fastwebsockets::WebSocketError;
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper::Response;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

type Error = Box<dyn std::error::Error + Send + Sync>;

async fn handle_client(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
  let mut ws = fastwebsockets::FragmentCollector::new(fut.await?);
  loop {
    let frame = ws.read_frame().await?;
    match frame.opcode {
      OpCode::Close => break,
      OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
      _ => {}
    }
  }
  Ok(())
}

async fn server_upgrade(
  mut req: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
  let (response, fut) = upgrade::upgrade(&mut req)?;
  tokio::task::spawn(async move {
    if let Err(e) = tokio::task::unconstrained(handle_client(fut)).await {
      eprintln!("Error in websocket connection: {e}");
    }
  });
  Ok(response)
}

async fn serve<S>(io: S)
where
  S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
  let conn = http1::Builder::new()
    .serve_connection(hyper_util::rt::TokioIo::new(io), service_fn(server_upgrade))
    .with_upgrades();
  if let Err(e) = conn.await {
    eprintln!("An error occurred: {e:?}");
  }
}

fn tls_acceptor(cert: &str, key: &str) -> Result<TlsAcceptor, Error> {
  let certs = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
  let key = PrivateKeyDer::from_pem_file(key)?;
  // ring is the one crypto provider built in (Cargo.toml), so the default.
  let config = rustls::ServerConfig::builder_with_protocol_versions(&[&rustls::version::TLS13])
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
  Ok(TlsAcceptor::from(Arc::new(config)))
}

fn main() -> Result<(), Error> {
  let port: u16 = match std::env::args().nth(1).map(|a| a.parse()) {
    Some(Ok(p)) => p,
    _ => return Err("usage: fastwebsockets-echo PORT".into()),
  };
  let tls = match (std::env::var("BENCH_TLS_CERT"), std::env::var("BENCH_TLS_KEY")) {
    (Ok(c), Ok(k)) if !c.is_empty() && !k.is_empty() => Some(tls_acceptor(&c, &k)?),
    _ => None,
  };
  let rt = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
  rt.block_on(async move {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    println!("fastwebsockets echo server listening on {scheme}://127.0.0.1:{port}/");
    loop {
      let (stream, _) = listener.accept().await?;
      stream.set_nodelay(true)?;
      match &tls {
        None => {
          tokio::spawn(serve(stream));
        }
        Some(acceptor) => {
          let accept = acceptor.accept(stream);
          tokio::spawn(async move {
            match accept.await {
              Ok(s) => serve(s).await,
              Err(e) => eprintln!("TLS handshake failed: {e}"),
            }
          });
        }
      }
    }
  })
}
