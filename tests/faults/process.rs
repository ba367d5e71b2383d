//! The real binary as a child process: failed handshakes logged at most once per interval, and SIGTERM under load finishing the reviews in flight and exiting 0.

use super::*;

/// The real binary as a child process, killed on drop if still running.
struct Binary(Child);

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Starts the real binary with `serve --dev` on free ports (its development certificate and
/// its log, `serve.log`, under `dir`; `RUST_LOG=warn`) and waits until `/readyz` answers 200.
/// Returns it with its webhook and metrics addresses and a client trusting its certificate.
async fn start_binary(dir: &TempDir) -> (Binary, SocketAddr, SocketAddr, Arc<ClientConfig>) {
    let (webhook, metrics) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_vramgate"))
        .args(["serve", "--dev", "--listen", &format!("127.0.0.1:{webhook}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics}")])
        // The development certificate goes under TMPDIR.
        .env("TMPDIR", &dir.0)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path("serve.log")).map_or_else(|_| Stdio::null(), Stdio::from))
        .spawn()
        .expect("start vramgate serve");
    let mut child = Binary(child);
    let metrics_addr: SocketAddr = format!("127.0.0.1:{metrics}").parse().expect("addr");
    let webhook_addr: SocketAddr = format!("127.0.0.1:{webhook}").parse().expect("addr");
    // A cold start of the debug binary on a busy 2-core machine (a fresh CI runner, the other
    // tests running beside it) can take seconds: allow 30 s, not `eventually`'s 5 s.
    let ready_by = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = match TcpStream::connect(metrics_addr).await {
            Ok(mut tcp) => {
                let _ = tcp.write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
                read_reply(&mut tcp, STEP).await.is_some_and(|r| r.status == Some(200))
            }
            Err(_) => false,
        };
        if ready {
            break;
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("vramgate serve exited before it was ready: {status}");
        }
        assert!(Instant::now() < ready_by, "timed out waiting for the binary to be ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pem = std::fs::read(dir.path("vramgate-dev-tls/tls.crt")).expect("dev certificate");
    let der = CertificateDer::pem_slice_iter(&pem).next().expect("a certificate").expect("PEM");
    (child, webhook_addr, metrics_addr, client_config(&der, tls::PROTOCOL_VERSIONS))
}

/// Sends SIGTERM (what the kubelet sends; sent directly: a minimal image has no `kill`).
fn sigterm(child: &Binary) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.0.id()).expect("pid fits i32"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("send SIGTERM");
}

/// Waits (at most [`STEP`]) for the binary to exit; its exit code.
async fn exit_code(child: &mut Binary) -> Option<i32> {
    let deadline = Instant::now() + STEP;
    loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            return status.code();
        }
        assert!(Instant::now() < deadline, "vramgate did not exit within {STEP:?} of SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Issue 12, item 13: failed TLS handshakes are logged at most once per `WARN_INTERVAL` (10 s),
/// not once each. (Before the fix, 20 plain-HTTP requests to the TLS port made 20 WARN lines.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_handshakes_are_logged_at_most_once_per_interval() {
    let dir = TempDir::new("handshake-log");
    let (mut child, webhook_addr, _, config) = start_binary(&dir).await;
    for _ in 0..20 {
        let mut tcp = TcpStream::connect(webhook_addr).await.expect("connect");
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.expect("write");
        let mut buf = [0u8; 256];
        // The server refuses the handshake (an alert) and closes.
        loop {
            match tokio::time::timeout(STEP, tcp.read(&mut buf)).await.expect("closed in time") {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
    // The webhook still serves.
    assert_review(&review(webhook_addr, config, "/validate", REVIEW).await);
    sigterm(&child);
    assert_eq!(exit_code(&mut child).await, Some(0));
    let log = std::fs::read_to_string(dir.path("serve.log")).expect("serve.log");
    let lines = log.lines().filter(|l| l.contains("TLS handshake failed")).count();
    assert_eq!(lines, 1, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_during_load_finishes_the_reviews_in_flight_and_exits_0() {
    const IN_FLIGHT: usize = 6;
    let dir = TempDir::new("sigterm");
    let (mut child, webhook_addr, metrics_addr, config) = start_binary(&dir).await;

    // Load: reviews in flight, each with half its body sent.
    let mut in_flight = Vec::new();
    for _ in 0..IN_FLIGHT {
        let mut tls = connect(webhook_addr, config.clone()).await.expect("handshake");
        // A whole review first, on the same keep-alive connection, to be sure it is served.
        tls.write_all(format!("{}{REVIEW}", head("/validate", REVIEW.len())).as_bytes()).await.expect("write");
        assert_review(&read_reply(&mut tls, STEP).await.expect("reply"));
        let half = REVIEW.len() / 2;
        tls.write_all(format!("{}{}", head("/validate", REVIEW.len()), &REVIEW[..half]).as_bytes())
            .await
            .expect("write");
        in_flight.push(tls);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;

    sigterm(&child);
    // Shutdown has started once /readyz turns 503 (the probe server stays up while the
    // webhook drains); then the reviews in flight finish.
    eventually("shutdown to start", || async {
        match TcpStream::connect(metrics_addr).await {
            Ok(mut tcp) => {
                let _ = tcp.write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
                read_reply(&mut tcp, STEP).await.is_some_and(|r| r.status == Some(503))
            }
            Err(_) => false,
        }
    })
    .await;
    let half = REVIEW.len() / 2;
    let finishing = in_flight.into_iter().map(|mut tls| {
        tokio::spawn(async move {
            tls.write_all(&REVIEW.as_bytes()[half..]).await.expect("write the rest");
            read_reply(&mut tls, STEP).await.expect("reply")
        })
    });
    for reply in futures_join(finishing).await {
        assert_review(&reply);
    }

    assert_eq!(exit_code(&mut child).await, Some(0));
}

/// Awaits every task, in order.
async fn futures_join<T: Send + 'static>(tasks: impl Iterator<Item = JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for task in tasks {
        out.push(tokio::time::timeout(STEP, task).await.expect("in time").expect("task"));
    }
    out
}
