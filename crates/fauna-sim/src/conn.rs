//! Connections that a handler can reset.
//!
//! Owns [`ResettableListener`], the TCP listener the server accepts on, and the [`Conn`] it
//! yields: a `TcpStream` with a shared switch. A handler reaches the switch of the connection it
//! is answering through [`ConnHandle`] (axum connect info); once it is thrown, every read and
//! write on that connection fails, hyper drops the connection without sending anything, and the
//! socket closes with `SO_LINGER` 0, so the client sees a TCP reset instead of an answer.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tracing::debug;

/// Accepts [`Conn`]s.
pub struct ResettableListener(pub TcpListener);

impl Listener for ResettableListener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        // axum's own accept loop, which logs and retries accept errors.
        let (tcp, addr) = Listener::accept(&mut self.0).await;
        let conn = Conn {
            tcp,
            reset: Arc::new(AtomicBool::new(false)),
            lingering: false,
        };
        (conn, addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// The reset switch of one connection, available to handlers as `ConnectInfo<ConnHandle>`.
#[derive(Clone, Debug)]
pub struct ConnHandle(Arc<AtomicBool>);

impl ConnHandle {
    /// From now on the connection fails every read and write and is closed with a reset.
    pub fn reset(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, ResettableListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, ResettableListener>) -> Self {
        ConnHandle(Arc::clone(&stream.io().reset))
    }
}

/// An accepted TCP connection with a reset switch.
pub struct Conn {
    tcp: TcpStream,
    reset: Arc<AtomicBool>,
    /// `SO_LINGER` 0 is set (the close will send RST).
    lingering: bool,
}

impl Conn {
    /// `Some(error)` once the switch is thrown; arranges for the close to be a reset.
    fn failed(&mut self) -> Option<io::Error> {
        if !self.reset.load(Ordering::SeqCst) {
            return None;
        }
        if !self.lingering {
            self.lingering = true;
            if let Err(e) = self.tcp.set_zero_linger() {
                debug!("cannot set SO_LINGER 0; the connection closes with FIN instead: {e}");
            }
        }
        Some(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "fault: connection reset by the simulator",
        ))
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(e) = self.failed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.failed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.failed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.failed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.failed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_reset_connection_fails_its_io_and_the_peer_sees_a_reset() {
        let mut listener = ResettableListener(
            TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind a loopback port"),
        );
        let addr = listener.local_addr().expect("local address");
        let client = tokio::spawn(async move {
            let mut tcp = TcpStream::connect(addr).await.expect("connect");
            tcp.write_all(b"ping").await.expect("write");
            let mut buf = [0u8; 16];
            tcp.read(&mut buf).await
        });
        let (mut conn, _) = Listener::accept(&mut listener).await;
        let handle = ConnHandle(Arc::clone(&conn.reset));
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf).await.expect("read before reset");
        assert_eq!(&buf, b"ping");
        handle.reset();
        let write = conn.write_all(b"pong").await;
        assert!(
            matches!(&write, Err(e) if e.kind() == io::ErrorKind::ConnectionReset),
            "{write:?}"
        );
        drop(conn);
        let read = client.await.expect("client task");
        assert!(
            matches!(&read, Err(e) if e.kind() == io::ErrorKind::ConnectionReset),
            "the client must see a reset, not an answer or a clean end: {read:?}"
        );
    }
}
