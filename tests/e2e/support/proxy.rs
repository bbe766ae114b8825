//! A TCP proxy on 127.0.0.1 between lagscale and a broker, which a test can cut, take down
//! (new connections are closed at once) or slow down (every chunk waits before it is passed on).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Default)]
struct Switches {
    down: AtomicBool,
    delay_ms: AtomicU64,
}

pub struct Proxy {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    switches: Arc<Switches>,
    pipes: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let switches = Arc::new(Switches::default());
        let pipes: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let acceptor = {
            let (accepted, pipes, switches) = (accepted.clone(), pipes.clone(), switches.clone());
            tokio::spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    if switches.down.load(Ordering::SeqCst) {
                        continue; // dropped: closed at once
                    }
                    let switches = switches.clone();
                    let pipe = tokio::spawn(async move {
                        if let Ok(outbound) = TcpStream::connect(upstream).await {
                            let (in_read, in_write) = inbound.into_split();
                            let (out_read, out_write) = outbound.into_split();
                            tokio::join!(
                                pump(in_read, out_write, &switches),
                                pump(out_read, in_write, &switches)
                            );
                        }
                    });
                    pipes.lock().unwrap().push(pipe);
                }
            })
        };
        Proxy {
            addr,
            accepted,
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

    /// Down: cuts every connection and closes new ones at once. Up: passes them on again.
    pub fn set_down(&self, down: bool) {
        self.switches.down.store(down, Ordering::SeqCst);
        if down {
            self.sever();
        }
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
