//! A TCP proxy on 127.0.0.1 between lagscale and a broker, which a test can cut (live
//! connections are dropped), take down (new connections are closed at once), blackhole (new
//! connections are accepted and never answered) or slow down (every chunk waits before it is
//! passed on). It counts the connections it accepted and the ones still open.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the proxy does with a connection it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Passes it on to the upstream.
    Pass,
    /// Closes it at once (a broker that is down).
    Down,
    /// Holds it open and never answers (a firewall that drops packets, a hung broker); it is
    /// closed only when the client closes it or the proxy cuts it.
    Blackhole,
}

#[derive(Default)]
struct Switches {
    mode: AtomicU8,
    delay_ms: AtomicU64,
}

impl Switches {
    fn mode(&self) -> Mode {
        match self.mode.load(Ordering::SeqCst) {
            1 => Mode::Down,
            2 => Mode::Blackhole,
            _ => Mode::Pass,
        }
    }
}

/// Counts a connection as open from accept until the task that holds it ends or is aborted.
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub struct Proxy {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    switches: Arc<Switches>,
    pipes: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let switches = Arc::new(Switches::default());
        let pipes: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let acceptor = {
            let (accepted, open) = (accepted.clone(), open.clone());
            let (pipes, switches) = (pipes.clone(), switches.clone());
            tokio::spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let mode = switches.mode();
                    if mode == Mode::Down {
                        continue; // dropped: closed at once
                    }
                    open.fetch_add(1, Ordering::SeqCst);
                    let guard = OpenGuard(open.clone());
                    let switches = switches.clone();
                    let pipe = tokio::spawn(async move {
                        let _guard = guard;
                        if mode == Mode::Blackhole {
                            swallow(inbound).await;
                        } else if let Ok(outbound) = TcpStream::connect(upstream).await {
                            let (in_read, in_write) = inbound.into_split();
                            let (out_read, out_write) = outbound.into_split();
                            tokio::join!(
                                pump(in_read, out_write, &switches),
                                pump(out_read, in_write, &switches)
                            );
                        }
                    });
                    let mut pipes = pipes.lock().unwrap();
                    pipes.retain(|p| !p.is_finished());
                    pipes.push(pipe);
                }
            })
        };
        Proxy {
            addr,
            accepted,
            open,
            switches,
            pipes,
            acceptor,
        }
    }

    /// Cuts every connection open through the proxy (new ones are still accepted).
    pub fn sever(&self) {
        for pipe in self.pipes.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }

    /// Sets what happens to new connections; any mode but `Pass` also cuts the open ones.
    pub fn set_mode(&self, mode: Mode) {
        self.switches.mode.store(mode as u8, Ordering::SeqCst);
        if mode != Mode::Pass {
            self.sever();
        }
    }

    /// Down: cuts every connection and closes new ones at once. Up: passes them on again.
    pub fn set_down(&self, down: bool) {
        self.set_mode(if down { Mode::Down } else { Mode::Pass });
    }

    /// Every chunk, both ways, waits this long before it is passed on.
    pub fn set_delay(&self, delay: Duration) {
        self.switches
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// How many connections the proxy has accepted.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// How many accepted connections are still open (passed on or held by the blackhole).
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

/// Reads and discards until the client closes: never a byte back.
async fn swallow(mut inbound: TcpStream) {
    let mut buffer = vec![0; 4096];
    while let Ok(n) = inbound.read(&mut buffer).await {
        if n == 0 {
            return;
        }
    }
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, switches: &Switches) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let delay = switches.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.sever();
    }
}
