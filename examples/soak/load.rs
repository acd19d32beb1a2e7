//! What the soak sends: the kinds of request and their mix, the
//! requests themselves (with random bodies and chunkings), one sending
//! connection's loop, and the tally of what came back.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::{Conn, Until};
use crate::{Args, EPOCH};

/// What `hello` prints.
pub const HELLO_BODY: &[u8] = b"hello from soak\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Hello,
    Echo,
    EchoChunked,
    Fail,
    Missing,
    Timeout,
    Disconnect,
}

impl Kind {
    /// Each kind and its share of requests, per mille.
    const MIX: [(Kind, u32); 7] = [
        (Kind::Hello, 520),
        (Kind::Echo, 200),
        (Kind::EchoChunked, 100),
        (Kind::Fail, 60),
        (Kind::Missing, 60),
        (Kind::Timeout, 5),
        (Kind::Disconnect, 55),
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Hello => "hello",
            Kind::Echo => "echo",
            Kind::EchoChunked => "echo-chunked",
            Kind::Fail => "fail",
            Kind::Missing => "missing",
            Kind::Timeout => "timeout",
            Kind::Disconnect => "disconnect",
        }
    }

    pub fn expected_status(self) -> u16 {
        match self {
            Kind::Hello | Kind::Echo | Kind::EchoChunked | Kind::Disconnect => 200,
            Kind::Fail => 502,
            Kind::Missing => 404,
            Kind::Timeout => 504,
        }
    }

    fn pick(rng: &mut Rng) -> Kind {
        let mut r = rng.below(1000) as u32;
        for (kind, share) in Kind::MIX {
            if r < share {
                return kind;
            }
            r -= share;
        }
        Kind::Hello
    }
}

/// xorshift64*: small, fast, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0; the bias is negligible here).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// A request on the wire and what must come back.
struct Planned {
    bytes: Vec<u8>,
    /// The body an echo must return.
    echo: Option<Vec<u8>>,
    /// When the client is done with the response.
    until: Until,
}

fn plan(kind: Kind, args: &Args, rng: &mut Rng) -> Planned {
    let p = &args.prefix;
    let get = |path: &str| Planned {
        bytes: format!("GET {p}/{path} HTTP/1.1\r\nHost: soak\r\nUser-Agent: rcgi-soak\r\n\r\n")
            .into_bytes(),
        echo: None,
        until: Until::Complete,
    };
    match kind {
        Kind::Hello => get("hello"),
        Kind::Fail => get("fail"),
        Kind::Timeout => get("sleep"),
        Kind::Missing => get(&format!("missing/{}", rng.below(1 << 20))),
        Kind::Disconnect if rng.below(2) == 0 => Planned {
            // Hang up after up to 64 KiB of a long body...
            until: Until::BodyBytes(1 + rng.below(64 * 1024)),
            ..get("stream")
        },
        // ... or after the first line of one that pauses.
        Kind::Disconnect => Planned {
            until: Until::BodyBytes(1),
            ..get("trickle")
        },
        Kind::Echo | Kind::EchoChunked => {
            // Half small bodies, half anywhere up to the largest.
            let len = if rng.below(2) == 0 {
                rng.below(4097.min(args.max_echo + 1))
            } else {
                rng.below(args.max_echo + 1)
            };
            let body = rng.bytes(len);
            let expect = if rng.below(10) == 0 {
                "Expect: 100-continue\r\n"
            } else {
                ""
            };
            let mut bytes = Vec::with_capacity(len + 256);
            if kind == Kind::Echo {
                write!(
                    Writer(&mut bytes),
                    "POST {p}/echo HTTP/1.1\r\nHost: soak\r\n{expect}\
                     Content-Type: application/octet-stream\r\nContent-Length: {len}\r\n\r\n"
                )
                .expect("write to a Vec");
                bytes.extend_from_slice(&body);
            } else {
                write!(
                    Writer(&mut bytes),
                    "POST {p}/echo HTTP/1.1\r\nHost: soak\r\n{expect}\
                     Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                )
                .expect("write to a Vec");
                chunk(&mut bytes, &body, rng);
            }
            Planned {
                bytes,
                echo: Some(body),
                until: Until::Complete,
            }
        }
    }
}

/// `std::fmt::Write` into a byte vector.
struct Writer<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Chunked coding of `body` in random chunk sizes, some with extensions.
fn chunk(out: &mut Vec<u8>, body: &[u8], rng: &mut Rng) {
    let mut at = 0;
    while at < body.len() {
        let n = (1 + rng.below(64 * 1024)).min(body.len() - at);
        let ext = if rng.below(8) == 0 { ";soak=1" } else { "" };
        write!(Writer(out), "{n:x}{ext}\r\n").expect("write to a Vec");
        out.extend_from_slice(&body[at..at + n]);
        out.extend_from_slice(b"\r\n");
        at += n;
    }
    out.extend_from_slice(b"0\r\n\r\n");
}

#[derive(Default)]
pub struct Tally {
    /// Requests by kind and status (0: no response).
    pub by_kind: BTreeMap<(Kind, u16), u64>,
    /// Every error, word for word, with when it came (seconds since
    /// the soak began).
    pub errors: Vec<(f64, String)>,
    pub echo_bytes: u64,
    pub connections: u64,
    /// Time per kind: (sum, longest).
    pub time: BTreeMap<Kind, (Duration, Duration)>,
}

impl Tally {
    fn took(&mut self, kind: Kind, d: Duration) {
        let t = self.time.entry(kind).or_default();
        t.0 += d;
        t.1 = t.1.max(d);
    }

    /// Records an error and when it came.
    fn error(&mut self, what: String) {
        let at = EPOCH.get_or_init(Instant::now).elapsed().as_secs_f64();
        self.errors.push((at, what));
    }

    fn add(&mut self, other: Tally) {
        for (k, n) in other.by_kind {
            *self.by_kind.entry(k).or_default() += n;
        }
        self.errors.extend(other.errors);
        self.errors.sort_by(|a, b| a.0.total_cmp(&b.0));
        self.echo_bytes += other.echo_bytes;
        self.connections += other.connections;
        for (kind, (sum, max)) in other.time {
            let t = self.time.entry(kind).or_default();
            t.0 += sum;
            t.1 = t.1.max(max);
        }
    }

    pub fn requests(&self) -> u64 {
        self.by_kind.values().sum()
    }
}

/// One sending connection's loop: take request numbers until `total`.
fn worker(id: usize, args: &Args, next: &AtomicUsize, total: usize) -> Tally {
    let mut rng = Rng::new(args.seed ^ (id as u64).wrapping_mul(0x1000_0001));
    let mut tally = Tally::default();
    let mut conn: Option<Conn> = None;
    while next.fetch_add(1, Ordering::Relaxed) < total {
        let kind = Kind::pick(&mut rng);
        let planned = plan(kind, args, &mut rng);
        let reused = conn.is_some();
        let mut c = match conn.take() {
            Some(c) => c,
            None => match Conn::connect(args.addr) {
                Ok(c) => {
                    tally.connections += 1;
                    c
                }
                Err(e) => {
                    *tally.by_kind.entry((kind, 0)).or_default() += 1;
                    tally.error(format!("{}: cannot connect: {e}", kind.name()));
                    thread::sleep(Duration::from_millis(50));
                    continue;
                }
            },
        };
        // "hello /cgi-bin/hello", for error messages.
        let target = planned
            .bytes
            .split(|&b| b == b' ')
            .nth(1)
            .unwrap_or_default();
        let label = format!("{} {}", kind.name(), String::from_utf8_lossy(target));
        let sent_at = Instant::now();
        let result = c.exchange(&planned.bytes, planned.until);
        tally.took(kind, sent_at.elapsed());
        let r = match result {
            Ok(r) => r,
            Err(e) => {
                *tally.by_kind.entry((kind, 0)).or_default() += 1;
                let on = if reused { "a reused" } else { "a new" };
                tally.error(format!("{label}: {e} (on {on} connection)"));
                continue;
            }
        };
        *tally.by_kind.entry((kind, r.status)).or_default() += 1;
        if r.status != kind.expected_status() {
            tally.error(format!(
                "{}: status {} instead of {}",
                label,
                r.status,
                kind.expected_status()
            ));
        }
        if r.unsent {
            tally.error(format!(
                "{}: a {} response came before the request was sent",
                label, r.status
            ));
        }
        if kind == Kind::Hello && r.status == 200 && r.body != HELLO_BODY {
            tally.error(format!(
                "{label}: body {:?}",
                String::from_utf8_lossy(&r.body)
            ));
        }
        if let Some(sent) = &planned.echo {
            if r.status == 200 && r.body != *sent {
                tally.error(format!(
                    "{}: {} bytes sent, {} came back, first difference at {}",
                    label,
                    sent.len(),
                    r.body.len(),
                    sent.iter()
                        .zip(&r.body)
                        .position(|(a, b)| a != b)
                        .unwrap_or(sent.len().min(r.body.len()))
                ));
            }
            tally.echo_bytes += sent.len() as u64;
        }
        if kind == Kind::Disconnect {
            // Hang up mid-response, half the time with a reset; the next
            // request opens a new connection.
            if rng.below(2) == 0 {
                c.reset();
            }
        } else if r.close || r.unsent {
            tally.error(format!(
                "{}: the server closed a keep-alive connection after {}",
                label, r.status
            ));
        } else {
            conn = Some(c);
        }
    }
    tally
}

/// Sends `total` requests over `args.concurrency` connections.
pub fn run_load(args: &Args, total: usize) -> Tally {
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..args.concurrency)
        .map(|id| {
            let args = args.clone();
            let next = Arc::clone(&next);
            thread::Builder::new()
                .name(format!("soak-{id}"))
                .spawn(move || worker(id, &args, &next, total))
                .expect("start a worker thread")
        })
        .collect();
    let mut tally = Tally::default();
    for w in workers {
        tally.add(w.join().expect("a worker panicked"));
    }
    tally
}
