//! What the request inspector (`--debug`, `/.rcgi/`) keeps: the last
//! [`KEPT`] requests, each a [`Record`] that dispatch opens when the
//! request comes and that the layers below fill in as it goes (the CGI
//! environment and how the script ended from the engine, the response
//! head from [`tap::Tap`], the status and duration at the end). Memory is
//! bounded: a fixed count of records, and every part of one capped.

pub mod tap;

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Requests kept; the oldest goes when a new one comes.
pub const KEPT: usize = 100;
/// Bytes kept of each list of one record (the environment, the request
/// headers, the response headers); past it, the list is cut.
pub const PART_BYTES: usize = 16 * 1024;
/// Bytes kept of a script's stderr (its end), as the `--debug` page shows.
pub const STDERR_BYTES: usize = 4 * 1024;
/// Bytes kept of a request-target.
const TARGET_BYTES: usize = 2 * 1024;

/// Name-value pairs, as bytes.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// One request, as far as it has gone.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// Counts from 1 since rcgi started.
    pub id: u64,
    /// Seconds since the epoch when it came.
    pub at: u64,
    pub method: String,
    pub target: String,
    pub protocol: &'static str,
    pub peer: String,
    pub request_headers: Pairs,
    /// The request body's length, when known (`Content-Length`, or a
    /// chunked body once spooled).
    pub body: Option<u64>,
    /// The body was streamed without a known length.
    pub body_streamed: bool,
    /// SCRIPT_NAME of the script run (the last one, after redirects).
    pub script: Option<Vec<u8>>,
    pub env: Pairs,
    /// How the script ended ("exit 0 after 3.1ms", "killed by SIGKILL"),
    /// or why it could not start.
    pub ended: Option<String>,
    pub stderr: Vec<u8>,
    /// The status of the response begun (0 until then).
    pub status: u16,
    pub response_headers: Pairs,
    /// Some parts were cut to their bounds.
    pub cut: bool,
    /// Set when the request is over.
    pub duration: Option<Duration>,
    pub bytes: u64,
    started: Option<Instant>,
}

impl Entry {
    /// Its duration, or the time it has run so far.
    pub fn elapsed(&self) -> Duration {
        self.duration
            .or_else(|| self.started.map(|s| s.elapsed()))
            .unwrap_or_default()
    }
}

/// The last requests.
#[derive(Default)]
pub struct Recorder {
    kept: Mutex<(u64, VecDeque<Record>)>,
}

/// One request's entry, shared by the recorder and the request's layers.
#[derive(Clone)]
pub struct Record(Arc<Mutex<Entry>>);

/// What a record begins with.
pub struct Arrival<'a> {
    pub method: &'a str,
    pub target: &'a str,
    pub protocol: &'static str,
    pub peer: String,
    pub headers: &'a [(String, Vec<u8>)],
    pub body: Option<u64>,
}

impl Recorder {
    /// Opens the record of a request that has just come.
    pub fn begin(&self, a: &Arrival) -> Record {
        let mut cut = a.target.len() > TARGET_BYTES;
        let headers = a
            .headers
            .iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.clone()));
        let request_headers = capped(headers, &mut cut);
        let target = &a.target.as_bytes()[..a.target.len().min(TARGET_BYTES)];
        let entry = Entry {
            at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            method: a.method.to_string(),
            target: String::from_utf8_lossy(target).into_owned(),
            protocol: a.protocol,
            peer: a.peer.clone(),
            request_headers,
            body: a.body,
            cut,
            started: Some(Instant::now()),
            ..Entry::default()
        };
        let record = Record(Arc::new(Mutex::new(entry)));
        let mut kept = lock(&self.kept);
        kept.0 = kept.0.saturating_add(1);
        record.with(|e| e.id = kept.0);
        if kept.1.len() >= KEPT {
            kept.1.pop_back();
        }
        kept.1.push_front(record.clone());
        record
    }

    /// Copies of the entries kept, newest first.
    pub fn entries(&self) -> Vec<Entry> {
        let records: Vec<Record> = lock(&self.kept).1.iter().cloned().collect();
        records.iter().map(Record::entry).collect()
    }

    /// A copy of the entry `id`, if it is still kept.
    pub fn entry(&self, id: u64) -> Option<Entry> {
        let record = lock(&self.kept)
            .1
            .iter()
            .find(|r| r.with(|e| e.id) == id)
            .cloned();
        record.as_ref().map(Record::entry)
    }
}

impl Record {
    fn with<R>(&self, f: impl FnOnce(&mut Entry) -> R) -> R {
        f(&mut lock(&self.0))
    }

    /// A copy of the entry as it is now.
    pub fn entry(&self) -> Entry {
        self.with(|e| e.clone())
    }

    /// The body's length, once known (a spooled chunked body).
    pub fn body(&self, length: Option<u64>, streamed: bool) {
        self.with(|e| (e.body, e.body_streamed) = (length, streamed));
    }

    /// The script about to run, with its environment.
    pub fn script(&self, name: &[u8], env: &[(OsString, OsString)]) {
        self.with(|e| {
            e.script = Some(name.to_vec());
            let pairs = env
                .iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()));
            e.env = capped(pairs, &mut e.cut);
            e.ended = None;
        });
    }

    /// The end of the script's stderr so far, while it runs.
    pub fn stderr(&self, tail: &[u8]) {
        let from = tail.len().saturating_sub(STDERR_BYTES);
        self.with(|e| e.stderr = tail[from..].to_vec());
    }

    /// How the script ended, and the end of its stderr.
    pub fn ended(&self, how: &str, stderr: &[u8]) {
        self.with(|e| {
            e.ended = Some(how.to_string());
            let from = stderr.len().saturating_sub(STDERR_BYTES);
            e.cut |= from > 0;
            e.stderr = stderr[from..].to_vec();
        });
    }

    /// The response's status and header fields, as it begins.
    pub fn response(&self, status: u16, fields: &[(String, Vec<u8>)]) {
        self.with(|e| {
            e.status = status;
            let pairs = fields
                .iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.clone()));
            e.response_headers = capped(pairs, &mut e.cut);
        });
    }

    /// The request is over.
    pub fn finish(&self, status: u16, bytes: u64) {
        self.with(|e| {
            e.status = status;
            e.bytes = bytes;
            e.duration = Some(e.elapsed());
        });
    }
}

/// The pairs that fit in [`PART_BYTES`]; `cut` is set if some did not.
fn capped(pairs: impl Iterator<Item = (Vec<u8>, Vec<u8>)>, cut: &mut bool) -> Pairs {
    let mut used = 0usize;
    let mut kept = Vec::new();
    for (name, value) in pairs {
        used = used.saturating_add(name.len() + value.len());
        if used > PART_BYTES {
            *cut = true;
            break;
        }
        kept.push((name, value));
    }
    kept
}

/// A record's lock, even if a thread panicked while holding it (the
/// entry is only ever plain data).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival<'a>(target: &'a str, headers: &'a [(String, Vec<u8>)]) -> Arrival<'a> {
        Arrival {
            method: "GET",
            target,
            protocol: "HTTP/1.1",
            peer: "127.0.0.1:1".into(),
            headers,
            body: None,
        }
    }

    #[test]
    fn keeps_the_last_requests_newest_first() {
        let recorder = Recorder::default();
        for i in 0..KEPT + 5 {
            recorder
                .begin(&arrival(&format!("/{i}"), &[]))
                .finish(200, 1);
        }
        let entries = recorder.entries();
        assert_eq!(entries.len(), KEPT);
        assert_eq!(entries[0].target, format!("/{}", KEPT + 4));
        assert_eq!(entries[0].id, KEPT as u64 + 5);
        assert!(recorder.entry(1).is_none() && recorder.entry(6).is_some());
    }

    #[test]
    fn every_part_is_bounded() {
        let recorder = Recorder::default();
        let big = vec![("X-Big".to_string(), vec![b'a'; 1000]); 100];
        let long = "/".repeat(10_000);
        let record = recorder.begin(&arrival(&long, &big));
        let env = vec![(OsString::from("A"), OsString::from("b".repeat(100_000)))];
        record.script(b"/cgi-bin/x", &env);
        record.ended("exit 0", &vec![b'e'; 100_000]);
        let e = record.entry();
        assert!(e.cut && e.target.len() == TARGET_BYTES);
        assert!(e.request_headers.len() < 20 && e.env.is_empty());
        assert_eq!(e.stderr.len(), STDERR_BYTES);
        assert!(e.duration.is_none());
        record.finish(502, 0);
        assert!(record.entry().duration.is_some());
    }
}
