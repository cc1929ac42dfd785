//! A real S3-compatible server on loopback for the publish tests: moto's
//! standalone server (`moto_server`, PyPI `moto[server]`; `.ci/run`
//! installs it), one per [`S3Server`], with a fresh bucket whose objects
//! anyone may GET (so the real `ostree` client pulls from
//! `http://127.0.0.1:PORT/BUCKET/PREFIX` as from any static web server).
//!
//! moto enforces what publishing relies on: `If-None-Match: *` on PUT fails
//! with 412 when the key exists, `If-Match: ETAG` fails with 412 when the
//! ETag differs, and ListObjectsV2 pages with continuation tokens.
//!
//! Between the clients and moto sits a small logging proxy (in this
//! process, on its own loopback port): every request is recorded
//! ([`S3Server::requests`]) with its method, key, query and status, so a
//! test counts requests by kind on the server side. A [`Trap`] holds the
//! Nth request matching a predicate: the test kills the publisher while
//! that request is held, then the proxy drops it unanswered — a kill -9
//! at a chosen point, without timing windows.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the proxy forwarded (or held), as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Request {
    pub method: String,
    /// The object key under the bucket (empty for bucket-level requests), undecoded.
    pub key: String,
    /// The query string without `?` (`list-type=2&prefix=…` for a listing).
    pub query: String,
    /// 0 when the request was held by a trap and never answered.
    pub status: u16,
    /// Request body bytes.
    pub body: u64,
    pub if_none_match: bool,
    pub if_match: bool,
}

impl S3Request {
    pub fn is_list(&self) -> bool {
        self.method == "GET" && self.key.is_empty() && self.query.contains("list-type")
    }
    pub fn is_put(&self) -> bool {
        self.method == "PUT"
    }
}

type Pred = dyn Fn(&S3Request) -> bool + Send;

struct TrapState {
    pred: Box<Pred>,
    remaining: usize,
    hit: Option<mpsc::Sender<()>>,
    release: Option<mpsc::Receiver<bool>>,
}

/// A request held by the proxy: the Nth one matching the trap's predicate.
pub struct Trap {
    hit: mpsc::Receiver<()>,
    release: mpsc::Sender<bool>,
}

impl Trap {
    /// Waits until the trapped request arrives while `child` runs, then
    /// kills `child` (SIGKILL) and waits for it, then lets the proxy drop
    /// the held request unanswered. Panics if `child` exits first (the
    /// trap's point was never reached) or nothing happens for 5 minutes.
    pub fn kill_at(self, child: &mut Child, what: &str) {
        let start = Instant::now();
        loop {
            match self.hit.recv_timeout(Duration::from_millis(20)) {
                Ok(()) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the S3 proxy stopped"),
            }
            if let Some(status) = child.try_wait().expect("waiting for the publisher") {
                panic!("the publisher exited ({status}) before {what}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(300),
                "no request for {what} within 5 minutes"
            );
        }
        child.kill().expect("kill -9 the publisher");
        child.wait().expect("reaping the publisher");
        let _ = self.release.send(false);
    }

    /// Waits until the trapped request arrives while `child` runs (see
    /// [`Trap::kill_at`]); the request stays held until [`Trap::forward`].
    pub fn wait(&self, child: &mut Child, what: &str) {
        let start = Instant::now();
        loop {
            match self.hit.recv_timeout(Duration::from_millis(20)) {
                Ok(()) => return,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the S3 proxy stopped"),
            }
            if let Some(status) = child.try_wait().expect("waiting for the publisher") {
                panic!("the publisher exited ({status}) before {what}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(300),
                "no request for {what} within 5 minutes"
            );
        }
    }

    /// Lets the held request go on to the server.
    pub fn forward(self) {
        let _ = self.release.send(true);
    }
}

/// moto's S3 server with a fresh public-read bucket, behind a logging proxy; stopped on drop.
pub struct S3Server {
    moto: Child,
    /// `http://127.0.0.1:PORT` of the proxy: the endpoint clients use.
    pub endpoint: String,
    pub bucket: String,
    log: Arc<Mutex<Vec<S3Request>>>,
    trap: Arc<Mutex<Option<TrapState>>>,
    stop: Arc<AtomicBool>,
    proxy_port: u16,
    moto_log: tempfile::NamedTempFile,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl S3Server {
    /// Starts moto on loopback with bucket `bucket` (any GET allowed, as a
    /// public bucket behind a CDN), and the proxy in front of it.
    pub fn start(bucket: &str) -> S3Server {
        let port = free_port();
        let moto_log = tempfile::NamedTempFile::new().expect("moto log");
        let moto = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(moto_log.reopen().expect("moto log"))
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "moto_server could not be started ({e}): the publish tests need the S3-compatible \
                     server from PyPI `moto[server]` (.ci/run installs it). Refusing to skip."
                )
            });
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "moto_server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let direct = format!("http://127.0.0.1:{port}");
        ureq::put(&format!("{direct}/{bucket}"))
            .send_bytes(&[])
            .unwrap_or_else(|e| panic!("creating bucket {bucket}: {e}"));
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
        );
        ureq::put(&format!("{direct}/{bucket}?policy"))
            .set("Content-Type", "application/json")
            .send_bytes(policy.as_bytes())
            .unwrap_or_else(|e| panic!("public-read policy on bucket {bucket}: {e}"));

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let proxy_port = listener.local_addr().expect("addr").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let trap: Arc<Mutex<Option<TrapState>>> = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (log, trap, stop) = (log.clone(), trap.clone(), stop.clone());
            let bucket = bucket.to_string();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (log, trap, bucket) = (log.clone(), trap.clone(), bucket.clone());
                    std::thread::spawn(move || {
                        let _ = serve(conn, port, &bucket, &log, &trap);
                    });
                }
            });
        }
        S3Server {
            moto,
            endpoint: format!("http://127.0.0.1:{proxy_port}"),
            bucket: bucket.to_string(),
            log,
            trap,
            stop,
            proxy_port,
            moto_log,
        }
    }

    /// `s3://BUCKET/PREFIX`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{}", self.bucket, prefix)
    }

    /// Where an HTTP client (ostree) fetches the repository at `prefix`: path-style.
    pub fn http_url(&self, prefix: &str) -> String {
        format!("{}/{}/{}", self.endpoint, self.bucket, prefix)
    }

    /// The `--set=` options a publish target on this server needs.
    pub fn target_settings(&self) -> Vec<String> {
        vec![
            format!("--set=endpoint={}", self.endpoint),
            "--set=region=us-east-1".into(),
            "--set=allow-http=true".into(),
            "--set=path-style=true".into(),
        ]
    }

    /// Sets the credentials (standard AWS environment variables) on a command.
    pub fn credentials<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env("AWS_ACCESS_KEY_ID", "grove-test")
            .env("AWS_SECRET_ACCESS_KEY", "grove-test-secret")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
    }

    /// Every request so far, in the order the proxy received them.
    pub fn requests(&self) -> Vec<S3Request> {
        self.log.lock().expect("log").clone()
    }

    /// Forgets the requests so far.
    pub fn clear_requests(&self) {
        self.log.lock().expect("log").clear();
    }

    /// Holds the `n`th (1-based) request matching `pred` from now on.
    pub fn trap(&self, n: usize, pred: impl Fn(&S3Request) -> bool + Send + 'static) -> Trap {
        let (hit_tx, hit_rx) = mpsc::channel();
        let (rel_tx, rel_rx) = mpsc::channel();
        *self.trap.lock().expect("trap") = Some(TrapState {
            pred: Box::new(pred),
            remaining: n,
            hit: Some(hit_tx),
            release: Some(rel_rx),
        });
        Trap {
            hit: hit_rx,
            release: rel_tx,
        }
    }

    /// GETs `key` straight from the server (as an anonymous client would); None on 404.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        match ureq::get(&self.http_url(key)).call() {
            Ok(r) => {
                let mut v = Vec::new();
                r.into_reader().read_to_end(&mut v).expect("reading body");
                Some(v)
            }
            Err(ureq::Error::Status(404, _)) => None,
            Err(e) => panic!("GET {key}: {e}"),
        }
    }

    /// Every key under `prefix`, by listing the bucket (through the proxy: it is logged).
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = ureq::get(&format!("{}/{}", self.endpoint, self.bucket))
                .query("list-type", "2")
                .query("prefix", prefix);
            if let Some(t) = &token {
                req = req.query("continuation-token", t);
            }
            let body = req
                .call()
                .unwrap_or_else(|e| panic!("listing {prefix}: {e}"))
                .into_string()
                .expect("listing body");
            keys.extend(xml_values(&body, "Key"));
            token = xml_values(&body, "NextContinuationToken")
                .into_iter()
                .next();
            if token.is_none() {
                break;
            }
        }
        keys.sort();
        keys
    }

    /// Copies every object under `prefix` into `dir` (a plain repository
    /// for `ostree fsck`), as a mirror of the bucket would.
    pub fn download(&self, prefix: &str, dir: &Path) {
        let prefix = prefix.trim_end_matches('/');
        for key in self.keys(&format!("{prefix}/")) {
            let rel = &key[prefix.len() + 1..];
            let bytes = self
                .get(&key)
                .unwrap_or_else(|| panic!("{key} listed but absent"));
            super::write(&dir.join(rel), &bytes, 0o644);
        }
    }

    /// The moto server's own log (stderr), for failure messages.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.moto_log.path()).unwrap_or_default()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.proxy_port));
        let _ = self.moto.kill();
        let _ = self.moto.wait();
    }
}

fn xml_values(body: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let Some(j) = rest.find(&close) else { break };
        out.push(
            rest[..j]
                .replace("&amp;", "&")
                .replace("&lt;", "<")
                .replace("&gt;", ">"),
        );
        rest = &rest[j + close.len()..];
    }
    out
}

/// Proxies one request: to moto on a fresh connection, the response back
/// with `Connection: close` (so the client opens a new connection for the next).
fn serve(
    conn: TcpStream,
    upstream: u16,
    bucket: &str,
    log: &Mutex<Vec<S3Request>>,
    trap: &Mutex<Option<TrapState>>,
) -> std::io::Result<()> {
    let mut client = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    {
        let mut head = Vec::new();
        loop {
            let mut line = Vec::new();
            if client.read_until(b'\n', &mut line)? == 0 {
                return Ok(());
            }
            let end = line == b"\r\n" || line == b"\n";
            head.extend_from_slice(&line);
            if end {
                break;
            }
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        let mut lines = text.split("\r\n");
        let request_line = lines.next().unwrap_or_default().to_string();
        let mut parts = request_line.split(' ');
        let method = parts.next().unwrap_or_default().to_string();
        let target = parts.next().unwrap_or_default().to_string();
        let mut headers: Vec<(String, String)> = Vec::new();
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        if header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
            out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let mut body = Vec::new();
        if header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
            // Forwarded in its chunked framing, read to the last chunk and trailers.
            loop {
                let mut size_line = Vec::new();
                client.read_until(b'\n', &mut size_line)?;
                body.extend_from_slice(&size_line);
                let size = usize::from_str_radix(
                    String::from_utf8_lossy(&size_line)
                        .trim()
                        .split(';')
                        .next()
                        .unwrap_or("0"),
                    16,
                )
                .unwrap_or(0);
                if size == 0 {
                    loop {
                        let mut t = Vec::new();
                        client.read_until(b'\n', &mut t)?;
                        body.extend_from_slice(&t);
                        if t == b"\r\n" || t.is_empty() {
                            break;
                        }
                    }
                    break;
                }
                let mut chunk = vec![0; size + 2];
                client.read_exact(&mut chunk)?;
                body.extend_from_slice(&chunk);
            }
        } else if let Some(n) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
            body.resize(n, 0);
            client.read_exact(&mut body)?;
        }
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let path = path.trim_start_matches('/');
        let key = path
            .strip_prefix(bucket)
            .map(|k| k.trim_start_matches('/'))
            .unwrap_or(path)
            .to_string();
        let mut rec = S3Request {
            method: method.clone(),
            key,
            query: query.to_string(),
            status: 0,
            body: header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(body.len() as u64),
            if_none_match: header("if-none-match").is_some(),
            if_match: header("if-match").is_some(),
        };

        // A trapped request is held until the test has killed its sender, then dropped.
        let held = {
            let mut t = trap.lock().expect("trap");
            match t.as_mut() {
                Some(state) if (state.pred)(&rec) => {
                    state.remaining -= 1;
                    if state.remaining == 0 {
                        let st = t.take().expect("trap state");
                        Some((st.hit, st.release))
                    } else {
                        None
                    }
                }
                _ => None,
            }
        };
        if let Some((hit, release)) = held {
            if let Some(hit) = hit {
                let _ = hit.send(());
            }
            let forward = release.and_then(|r| r.recv().ok()).unwrap_or(false);
            if !forward {
                log.lock().expect("log").push(rec);
                return Ok(());
            }
        }

        let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
        let mut req = format!("{request_line}\r\n");
        for (k, v) in &headers {
            // moto 5.2 answers 500 to the If-Modified-Since dates libcurl sends
            // (ostree revalidating its cached summary.sig); the header only
            // allows a 304, and a full 200 is always a correct answer.
            if k.eq_ignore_ascii_case("connection")
                || k.eq_ignore_ascii_case("expect")
                || k.eq_ignore_ascii_case("if-modified-since")
            {
                continue;
            }
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("Connection: close\r\n\r\n");
        up.write_all(req.as_bytes())?;
        up.write_all(&body)?;
        let mut resp = Vec::new();
        up.read_to_end(&mut resp)?;
        rec.status = String::from_utf8_lossy(&resp[..resp.len().min(16)])
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        log.lock().expect("log").push(rec);
        let split = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| i + 4)
            .unwrap_or(resp.len());
        let head = String::from_utf8_lossy(&resp[..split]).into_owned();
        let mut new_head = String::new();
        for l in head.trim_end().split("\r\n") {
            if !l.to_ascii_lowercase().starts_with("connection:") {
                new_head.push_str(l);
                new_head.push_str("\r\n");
            }
        }
        new_head.push_str("Connection: close\r\n\r\n");
        out.write_all(new_head.as_bytes())?;
        out.write_all(&resp[split..])?;
        out.flush()?;
    }
    Ok(())
}
