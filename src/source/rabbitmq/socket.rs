//! The TCP socket under one lapin connection, opened by lagscale so that lagscale can end it.
//!
//! lapin runs every connection on an I/O thread of its own (lapin's `io_loop.rs`,
//! `IoLoop::start`), which owns the socket and ends only when the socket fails or the
//! connection is closed. Two paths left threads, sockets and tasks behind:
//!
//! - A connect lagscale gave up on (its timeout passed: the broker accepted and never
//!   answered), or a connection whose polite close got no answer: the thread waited forever.
//! - A TCP connect that failed (refused): the I/O thread returned early (the `?` after the
//!   connect in `IoLoop::start`) without stopping lapin's internal RPC task, which then waits
//!   forever; two tasks and about 10 KB per refused connect.
//!
//! So lagscale opens the TCP (and TLS) connection itself, on its own task and under its own
//! timeout, and hands lapin a stream that is already connected
//! (`lapin::Connection::connector`): a refused or swallowed TCP connect never reaches lapin.
//! It keeps a duplicate of the socket, and shutting that down ends lapin's thread: the thread
//! sees the socket end, and lapin makes no new attempt (`ConnectionProperties`' default
//! backoff has no retries).

use std::net::{Shutdown, SocketAddr, TcpStream as StdTcpStream};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, PoisonError};

use lapin::tcp::{AsyncTcpStream, RustlsConnector};
use lapin::uri::{AMQPScheme, AMQPUri};
use lapin::{Connection, ConnectionProperties};

use super::tls::RabbitTls;

/// One connection's socket. Shutting it down (or dropping it) ends the connection and
/// lapin's thread, whatever state the AMQP handshake is in.
#[derive(Default)]
pub struct Socket {
    duplicate: Mutex<Option<StdTcpStream>>,
}

impl Socket {
    /// Opens an AMQP connection to `uri` whose socket this handle ends; `amqps` with `tls`.
    pub async fn connect(
        &self,
        uri: AMQPUri,
        tls: &RabbitTls,
        properties: ConnectionProperties,
    ) -> lapin::Result<Connection> {
        let runtime = lapin::runtime::default_runtime()?;
        let stream = self.open(&uri, tls, &runtime).await?;
        let stream = Arc::new(Mutex::new(Some(stream)));
        // lapin calls this once; it would call it again only to reconnect, which it does
        // not (no retries), and then finds nothing.
        let hand_over = async move |_: AMQPUri, _: async_rs::TokioRuntime| {
            stream
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotConnected).into())
        };
        Connection::connector(uri, runtime, hand_over, properties).await
    }

    /// The TCP connection (TLS for `amqps`), with a duplicate of its socket kept.
    async fn open(
        &self,
        uri: &AMQPUri,
        tls: &RabbitTls,
        runtime: &async_rs::TokioRuntime,
    ) -> std::io::Result<
        AsyncTcpStream<<async_rs::TokioRuntime as async_rs::traits::Reactor>::TcpStream>,
    > {
        let host = uri.authority.host.as_str();
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, uri.authority.port))
            .await?
            .collect();
        let stream = AsyncTcpStream::connect(runtime, addresses).await?;
        if let AsyncTcpStream::Plain(plain) = &stream {
            let socket = StdTcpStream::from(plain.get_ref().as_fd().try_clone_to_owned()?);
            *self
                .duplicate
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(socket);
        }
        match uri.scheme {
            AMQPScheme::AMQP => Ok(stream),
            AMQPScheme::AMQPS => {
                let connector = RustlsConnector::from(tls.config());
                stream.into_rustls(&connector, host).await
            }
        }
    }

    /// Ends the socket if it is open: lapin's I/O thread then ends too.
    pub fn shut_down(&self) {
        let duplicate = self
            .duplicate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(socket) = duplicate {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.shut_down();
    }
}
