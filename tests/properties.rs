//! Property tests of the three parsers that read untrusted bytes: the
//! request head (from clients), the chunked request body (from clients)
//! and the CGI header block (from scripts). Each is fed generated valid
//! inputs, which must round-trip, and arbitrary or mutated inputs, which
//! must never panic and never yield something that would be unsafe to
//! pass on. Case counts are kept small so that `cargo test` stays fast;
//! `PROPTEST_CASES=10000 cargo test --test properties` runs more.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;

use rcgi::cgi::header_block::{self, ScriptHead};
use rcgi::front::http::Limits;
use rcgi::front::http::Version;
use rcgi::front::http::request::{BodyFraming, find_head_end, parse_head};

mod parsers;
use parsers::{
    Decoded, HEAD_STATUSES, TCHAR, check_accepted_block, check_accepted_head, decode, incremental,
};

// ---------------------------------------------------------------------
// Shared generators

/// `cases` cases (or `PROPTEST_CASES`), failures saved next to this file
/// in `properties.proptest-regressions` and tried first on later runs.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

/// Characters of a path segment (RFC 3986 pchar, with `%` left raw).
const PCHAR: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@%";

/// Characters of a query (pchar, `/` and `?`).
const QCHAR: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@%/?";

fn token(max: usize) -> impl Strategy<Value = String> {
    vec(select(TCHAR), 1..=max).prop_map(|b| String::from_utf8(b).expect("ASCII"))
}

fn chars_from(set: &'static [u8], len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    vec(select(set), len).prop_map(|b| String::from_utf8(b).expect("ASCII"))
}

/// A field value as it must come out of a parser: visible ASCII and
/// obs-text, with spaces and tabs inside but not at either end.
fn field_value(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        6 => 0x21u8..=0x7e,
        1 => 0x80u8..=0xff,
        1 => Just(b' '),
        1 => Just(b'\t'),
    ];
    vec(byte, 0..=max).prop_map(|v| v.trim_ascii().to_vec())
}

/// Optional whitespace (spaces and tabs) of up to three characters.
fn ows() -> impl Strategy<Value = String> {
    vec(select(&b" \t"[..]), 0..=3).prop_map(|b| String::from_utf8(b).expect("ASCII"))
}

/// Bytes that are mostly framing characters, to reach parser corners
/// that uniform random bytes rarely do.
fn framing_soup(
    alphabet: &'static [u8],
    len: std::ops::Range<usize>,
) -> impl Strategy<Value = Vec<u8>> {
    vec(prop_oneof![4 => select(alphabet), 1 => any::<u8>()], len)
}

/// Applies byte edits (overwrite, insert, delete) to `bytes`.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(at, op, byte) in edits {
        let at = at % (bytes.len() + 1);
        match op % 3 {
            0 if at < bytes.len() => bytes[at] = byte,
            1 => bytes.insert(at, byte),
            _ if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => bytes.push(byte),
        }
    }
    bytes
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6)
}

fn line_end(crlf: bool) -> &'static str {
    if crlf { "\r\n" } else { "\n" }
}

// ---------------------------------------------------------------------
// Request heads

/// A valid request, and what parsing it must give.
#[derive(Debug, Clone)]
struct GenRequest {
    bytes: Vec<u8>,
    method: String,
    target: String,
    path: String,
    query: Option<String>,
    version: Version,
    host: Option<String>,
    /// Every field in wire order, value as it must be parsed.
    fields: Vec<(String, Vec<u8>)>,
    body: BodyFraming,
    keep_alive: bool,
    expect_continue: bool,
}

/// Field names with a meaning of their own to the parser; generated
/// fields avoid them, and they are added on purpose where wanted.
const SPECIAL_REQUEST_FIELDS: [&str; 5] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "expect",
];

fn host_value() -> impl Strategy<Value = String> {
    let reg_name = chars_from(b"abcdefghijklmnopqrstuvwxyz0123456789-._~", 0..20);
    let ipv6 = chars_from(b"0123456789abcdefABCDEF:.", 1..30).prop_map(|s| format!("[{s}]"));
    let name = prop_oneof![3 => reg_name, 1 => ipv6];
    let port = proptest::option::of(0u32..=65535);
    (name, port).prop_map(|(name, port)| match port {
        Some(p) => format!("{name}:{p}"),
        None => name,
    })
}

/// `Connection` values: (value, says close, says keep-alive).
const CONNECTION_VALUES: [(&str, bool, bool); 5] = [
    ("close", true, false),
    ("Keep-Alive", false, true),
    ("keep-alive, Upgrade", false, true),
    ("foo ,  CLOSE", true, false),
    ("upgrade", false, false),
];

prop_compose! {
    fn request()(
        (method, segments, query) in (
            prop_oneof![
                select(vec!["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"])
                    .prop_map(String::from),
                token(12),
            ],
            vec(chars_from(PCHAR, 0..12), 0..6),
            proptest::option::of(chars_from(QCHAR, 0..40)),
        ),
        (http11, absolute, host, send_host_10) in (
            any::<bool>(),
            proptest::option::weighted(0.2, host_value()),
            host_value(),
            any::<bool>(),
        ),
        others in vec((token(20), field_value(40)), 0..20),
        (connection, body, expect) in (
            proptest::option::of(0..CONNECTION_VALUES.len()),
            prop_oneof![Just(None), (0u64..1 << 40).prop_map(Some), Just(Some(u64::MAX))],
            any::<bool>(),
        ),
        (leading_blank, crlf, padding, shuffle_seed) in (
            vec(any::<bool>(), 0..3),
            vec(any::<bool>(), 32),
            vec((ows(), ows()), 32),
            any::<u64>(),
        ),
    ) -> GenRequest {
        let path = format!("/{}", segments.join("/"));
        let version = if http11 { Version::Http11 } else { Version::Http10 };
        let mut fields: Vec<(String, Vec<u8>)> = others
            .into_iter()
            .filter(|(n, _)| !SPECIAL_REQUEST_FIELDS.contains(&n.to_ascii_lowercase().as_str()))
            .collect();
        let mut special = Vec::new();
        let send_host = http11 || send_host_10;
        if send_host {
            special.push(("Host".to_string(), host.clone().into_bytes()));
        }
        let (mut keep_alive, mut expect_continue) = (http11, false);
        if let Some(i) = connection {
            let (value, close, keep) = CONNECTION_VALUES[i];
            special.push(("Connection".to_string(), value.as_bytes().to_vec()));
            keep_alive = !close && (http11 || keep);
        }
        let framing = match body {
            None => BodyFraming::None,
            // u64::MAX stands for "chunked", which only HTTP/1.1 may use.
            Some(u64::MAX) if http11 => {
                special.push(("Transfer-Encoding".to_string(), b"chunked".to_vec()));
                BodyFraming::Chunked
            }
            Some(u64::MAX) => BodyFraming::None,
            Some(n) => {
                special.push(("Content-Length".to_string(), n.to_string().into_bytes()));
                BodyFraming::Length(n)
            }
        };
        if expect {
            special.push(("Expect".to_string(), b"100-continue".to_vec()));
            expect_continue = http11;
        }
        // Put the special fields at pseudo-random places among the others.
        let mut seed = shuffle_seed | 1;
        for field in special {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = (seed % (fields.len() as u64 + 1)) as usize;
            fields.insert(at, field);
        }
        let (target, expected_host) = match &absolute {
            Some(authority) => (format!("http://{authority}{path}"), Some(authority.clone())),
            None => (path.clone(), send_host.then(|| host.clone())),
        };
        let target = match &query {
            Some(q) => format!("{target}?{q}"),
            None => target,
        };
        let mut bytes = Vec::new();
        for &b in &leading_blank {
            bytes.extend_from_slice(line_end(b).as_bytes());
        }
        bytes.extend_from_slice(
            format!("{method} {target} {}{}", version.as_str(), line_end(crlf[0])).as_bytes(),
        );
        for (i, (name, value)) in fields.iter().enumerate() {
            let (before, after) = &padding[i % padding.len()];
            bytes.extend_from_slice(format!("{name}:{before}").as_bytes());
            bytes.extend_from_slice(value);
            bytes.extend_from_slice(after.as_bytes());
            bytes.extend_from_slice(line_end(crlf[(i + 1) % crlf.len()]).as_bytes());
        }
        bytes.extend_from_slice(line_end(crlf[(fields.len() + 1) % crlf.len()]).as_bytes());
        GenRequest {
            bytes,
            method,
            target,
            path,
            query,
            version,
            host: expected_host,
            fields,
            body: framing,
            keep_alive,
            expect_continue,
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn valid_request_heads_round_trip(g in request(), body in vec(any::<u8>(), 0..64)) {
        let limits = Limits::default();
        let mut input = g.bytes.clone();
        input.extend_from_slice(&body);
        prop_assert_eq!(find_head_end(&input, 0), Some(g.bytes.len()));
        let req = parse_head(&g.bytes, &limits)
            .unwrap_or_else(|e| panic!("{e} for {:?}", String::from_utf8_lossy(&g.bytes)));
        prop_assert_eq!(&req.method, &g.method);
        prop_assert_eq!(&req.target, &g.target);
        prop_assert_eq!(&req.path, &g.path);
        prop_assert_eq!(&req.query, &g.query);
        prop_assert_eq!(req.version, g.version);
        prop_assert_eq!(&req.host, &g.host);
        prop_assert_eq!(&req.headers, &g.fields);
        prop_assert_eq!(req.body, g.body);
        prop_assert_eq!(req.keep_alive, g.keep_alive);
        prop_assert_eq!(req.expect_continue, g.expect_continue);
        check_accepted_head(&req, &limits);
    }

    #[test]
    fn arbitrary_heads_never_panic(
        input in prop_oneof![
            vec(any::<u8>(), 0..512),
            framing_soup(b"GET / HTTP/1.1\r\nHost: a:\t?%", 0..256),
        ]
    ) {
        let limits = Limits::default();
        let _ = find_head_end(&input, 0);
        match parse_head(&input, &limits) {
            Ok(req) => check_accepted_head(&req, &limits),
            Err(e) => prop_assert!(HEAD_STATUSES.contains(&e.status), "status {}", e.status),
        }
    }

    #[test]
    fn mutated_heads_never_panic(g in request(), edits in edits()) {
        let limits = Limits::default();
        let input = mutate(g.bytes, &edits);
        let end = find_head_end(&input, 0).unwrap_or(input.len());
        match parse_head(&input[..end], &limits) {
            Ok(req) => check_accepted_head(&req, &limits),
            Err(e) => prop_assert!(HEAD_STATUSES.contains(&e.status), "status {}", e.status),
        }
    }

    /// httparse hands over any request-target of visible ASCII and UTF-8,
    /// whatever its form; whatever it is, parsing it must not panic, and
    /// only an origin-form or absolute-form target may be accepted.
    #[test]
    fn any_request_target_is_handled(
        target in vec(
            prop_oneof![
                4 => select(QCHAR).prop_map(char::from),
                1 => select(vec!['h', 't', 'p', 's', ':', '/', '[', ']', '#', '*']),
                2 => any::<char>().prop_filter("visible", |c| {
                    !c.is_whitespace() && !c.is_control() && !c.is_ascii()
                }),
            ],
            1..24,
        ).prop_map(|chars| chars.into_iter().collect::<String>()),
        method in select(vec!["GET", "OPTIONS", "POST"]),
    ) {
        let limits = Limits::default();
        let head = format!("{method} {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        match parse_head(head.as_bytes(), &limits) {
            Ok(req) => {
                check_accepted_head(&req, &limits);
                let lower = target.to_ascii_lowercase();
                prop_assert!(
                    target.starts_with('/')
                        || (target == "*" && method == "OPTIONS")
                        || lower.starts_with("http://")
                        || lower.starts_with("https://"),
                    "accepted target {:?}", target
                );
            }
            Err(e) => prop_assert!(HEAD_STATUSES.contains(&e.status), "status {}", e.status),
        }
    }

    /// The server searches for the end of a head again each time bytes
    /// arrive; wherever the arrivals are cut, it must find the same end
    /// as a search of everything at once, and that end must be the first
    /// empty line after the request line.
    #[test]
    fn head_end_found_incrementally_agrees(
        input in prop_oneof![
            request().prop_map(|g| g.bytes),
            framing_soup(b"\r\n\r\nGET", 0..48),
        ],
        suffix in framing_soup(b"\r\n", 0..8),
        cuts in vec(any::<usize>(), 0..12),
    ) {
        let mut input = input;
        input.extend_from_slice(&suffix);
        let once = find_head_end(&input, 0);
        prop_assert_eq!(incremental(&input, &cuts, find_head_end), once);
        prop_assert_eq!(once, head_end_model(&input));
    }

    /// More than the allowed number of fields is 431, a longer target 414.
    #[test]
    fn head_bounds_are_enforced(extra in 1usize..20, over in 1usize..100) {
        let limits = Limits::default();
        let mut head = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..limits.head_fields + extra - 1 {
            head.push_str(&format!("X-{i}: v\r\n"));
        }
        head.push_str("\r\n");
        prop_assert_eq!(parse_head(head.as_bytes(), &limits).unwrap_err().status, 431);
        let target = format!("/{}", "a".repeat(limits.target_bytes + over - 1));
        let head = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        prop_assert_eq!(parse_head(head.as_bytes(), &limits).unwrap_err().status, 414);
    }
}

/// The end of a head, written out plainly: skip leading CR and LF, then
/// the first LF followed by LF or CRLF ends it.
fn head_end_model(buf: &[u8]) -> Option<usize> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    (start..buf.len()).find_map(|i| {
        if buf[i] != b'\n' {
            None
        } else if buf.get(i + 1) == Some(&b'\n') {
            Some(i + 2)
        } else if buf[i + 1..].starts_with(b"\r\n") {
            Some(i + 3)
        } else {
            None
        }
    })
}

// ---------------------------------------------------------------------
// Chunked request bodies

/// A chunked encoding of a body, with its framing chosen at random.
#[derive(Debug, Clone)]
struct Encoded {
    body: Vec<u8>,
    bytes: Vec<u8>,
}

/// Text allowed in a chunk extension or a trailer line (no CR).
fn ext_text(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(
        prop_oneof![
            8 => 0x20u8..=0x7e,
            1 => Just(b'\t'),
            1 => 0x80u8..=0xff,
        ],
        0..=max,
    )
}

/// One size line's decoration: leading zeros, upper case hex, spaces
/// before the extension, and the extension itself.
type SizeStyle = (usize, bool, String, Option<Vec<u8>>);

fn size_style() -> impl Strategy<Value = SizeStyle> {
    (
        0usize..4,
        any::<bool>(),
        ows(),
        proptest::option::of(ext_text(40)),
    )
}

fn size_line(out: &mut Vec<u8>, size: usize, style: &SizeStyle) {
    let (zeros, upper, space, ext) = style;
    let hex = if *upper {
        format!("{size:X}")
    } else {
        format!("{size:x}")
    };
    let zeros = (*zeros).min(16 - hex.len());
    out.extend_from_slice("0".repeat(zeros).as_bytes());
    out.extend_from_slice(hex.as_bytes());
    out.extend_from_slice(space.as_bytes());
    if let Some(ext) = ext {
        out.push(b';');
        out.extend_from_slice(ext);
    }
    out.extend_from_slice(b"\r\n");
}

prop_compose! {
    fn encoded()(
        body in vec(any::<u8>(), 0..1500),
        sizes in vec(1usize..400, 1..12),
        styles in vec(size_style(), 1..8),
        trailers in vec((token(16), ext_text(30)), 0..4),
    ) -> Encoded {
        let mut bytes = Vec::new();
        let (mut at, mut i) = (0, 0);
        while at < body.len() {
            let n = sizes[i % sizes.len()].min(body.len() - at);
            size_line(&mut bytes, n, &styles[i % styles.len()]);
            bytes.extend_from_slice(&body[at..at + n]);
            bytes.extend_from_slice(b"\r\n");
            at += n;
            i += 1;
        }
        size_line(&mut bytes, 0, &styles[i % styles.len()]);
        for (name, value) in &trailers {
            bytes.extend_from_slice(format!("{name}: ").as_bytes());
            bytes.extend_from_slice(value);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"\r\n");
        Encoded { body, bytes }
    }
}

fn feeding() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    (vec(1usize..64, 1..8), vec(1usize..512, 1..8))
}

proptest! {
    #![proptest_config(config(256))]

    /// Any chunking of any body decodes to the body, however the bytes
    /// arrive and however much of each offer is taken; what follows the
    /// body is left alone.
    #[test]
    fn chunked_bodies_round_trip(
        e in encoded(),
        after in vec(any::<u8>(), 0..32),
        (arrivals, takes) in feeding(),
    ) {
        let mut input = e.bytes.clone();
        input.extend_from_slice(&after);
        let expected = Decoded::Done { body: e.body.clone(), used: e.bytes.len() };
        prop_assert_eq!(decode(&input, &arrivals, &takes), expected.clone());
        prop_assert_eq!(decode(&input, &[1], &[1]), expected.clone());
        prop_assert_eq!(decode(&input, &[input.len()], &[usize::MAX]), expected);
    }

    /// A valid encoding cut short never finishes, and what it gave so far
    /// is the start of the body.
    #[test]
    fn truncated_chunked_bodies_never_finish(e in encoded(), cut in any::<usize>()) {
        let cut = cut % e.bytes.len();
        match decode(&e.bytes[..cut], &[7], &[5]) {
            Decoded::Short { body } => prop_assert!(e.body.starts_with(&body)),
            other => prop_assert!(false, "a prefix of {cut} bytes gave {other:?}"),
        }
    }

    /// Whatever the input, the outcome (body, end or refusal) does not
    /// depend on how it arrives, and nothing panics.
    #[test]
    fn arbitrary_chunked_input_is_decoded_the_same_in_any_pieces(
        input in prop_oneof![
            vec(any::<u8>(), 0..256),
            framing_soup(b"0123456789abcdefABCDEF\r\n; \t=\"", 0..256),
            (encoded(), edits()).prop_map(|(e, ed)| mutate(e.bytes, &ed)),
        ],
        (arrivals, takes) in feeding(),
    ) {
        let whole = decode(&input, &[input.len()], &[usize::MAX]);
        prop_assert_eq!(decode(&input, &arrivals, &takes), whole.clone());
        prop_assert_eq!(decode(&input, &[1], &[1]), whole.clone());
        if let Decoded::Done { body, used } = &whole {
            prop_assert!(body.len() < *used);
        }
    }
}

// ---------------------------------------------------------------------
// CGI header blocks written by scripts

/// A valid block, and what parsing it must give.
#[derive(Debug, Clone)]
struct GenBlock {
    /// The header lines, without the empty line that ends them.
    bytes: Vec<u8>,
    expected: ScriptHead,
}

/// Names the parser treats specially; generated fields avoid them.
const SPECIAL_SCRIPT_FIELDS: [&str; 9] = [
    "status",
    "location",
    "content-type",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
];

/// A name in random letter case.
fn any_case(name: &'static str) -> impl Strategy<Value = String> {
    vec(any::<bool>(), name.len()).prop_map(move |upper| {
        name.chars()
            .zip(upper)
            .map(|(c, u)| {
                if u {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    })
}

/// A field of the block: name, value, and how parsing treats it.
#[derive(Debug, Clone)]
enum Kind {
    Plain,
    Status(u16, String),
    Location,
    ContentType,
    ContentLength(u64),
    /// Hop-by-hop: dropped.
    Dropped,
    /// A CGI field with an empty value: as if absent.
    Empty,
}

fn special_fields() -> impl Strategy<Value = Vec<(String, Vec<u8>, Kind)>> {
    let reason = field_value(30).prop_map(|v| String::from_utf8_lossy(&v).into_owned());
    let status = proptest::option::of((any_case("status"), 200u16..=599, reason)).prop_map(|s| {
        s.map(|(name, code, reason)| {
            let value = if reason.is_empty() {
                code.to_string()
            } else {
                format!("{code} {reason}")
            };
            (name, value.into_bytes(), Kind::Status(code, reason))
        })
    });
    let non_empty = || field_value(40).prop_filter("non-empty", |v| !v.is_empty());
    let location = proptest::option::of((any_case("location"), non_empty()))
        .prop_map(|o| o.map(|(n, v)| (n, v, Kind::Location)));
    let content_type = proptest::option::of((any_case("content-type"), non_empty()))
        .prop_map(|o| o.map(|(n, v)| (n, v, Kind::ContentType)));
    let length = proptest::option::of((any_case("content-length"), 0u64..10u64.pow(18)))
        .prop_map(|o| o.map(|(n, l)| (n, l.to_string().into_bytes(), Kind::ContentLength(l))));
    let dropped = vec(
        (
            select(vec!["Connection", "keep-alive", "TE", "Upgrade"]),
            field_value(20),
        ),
        0..3,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(n, val)| (n.to_string(), val, Kind::Dropped))
            .collect::<Vec<_>>()
    });
    let empty = proptest::option::of(select(vec!["Status", "Location", "Content-Type"]))
        .prop_map(|o| o.map(|n| (n.to_string(), Vec::new(), Kind::Empty)));
    (status, location, content_type, length, dropped, empty).prop_map(|(s, l, t, n, d, e)| {
        let mut all: Vec<_> = [s, l, t, n, e].into_iter().flatten().collect();
        all.extend(d);
        all
    })
}

prop_compose! {
    fn block()(
        plain in vec((token(24), field_value(60)), 0..12),
        special in special_fields(),
        positions in vec(any::<usize>(), 16),
        crlf in vec(any::<bool>(), 32),
        padding in vec((ows(), ows()), 32),
    ) -> GenBlock {
        let mut fields: Vec<(String, Vec<u8>, Kind)> = plain
            .into_iter()
            .filter(|(n, _)| !SPECIAL_SCRIPT_FIELDS.contains(&n.to_ascii_lowercase().as_str()))
            .map(|(n, v)| (n, v, Kind::Plain))
            .collect();
        for (i, field) in special.into_iter().enumerate() {
            let at = positions[i % positions.len()] % (fields.len() + 1);
            fields.insert(at, field);
        }
        let mut expected = ScriptHead::default();
        let mut bytes = Vec::new();
        for (i, (name, value, kind)) in fields.into_iter().enumerate() {
            let (before, after) = &padding[i % padding.len()];
            bytes.extend_from_slice(format!("{name}:{before}").as_bytes());
            bytes.extend_from_slice(&value);
            bytes.extend_from_slice(after.as_bytes());
            bytes.extend_from_slice(line_end(crlf[i % crlf.len()]).as_bytes());
            match kind {
                Kind::Plain | Kind::ContentType => expected.fields.push((name, value)),
                Kind::Location => {
                    expected.location = Some(value.clone());
                    expected.fields.push((name, value));
                }
                Kind::Status(code, reason) => expected.status = Some((code, reason)),
                Kind::ContentLength(n) => expected.content_length = Some(n),
                Kind::Dropped | Kind::Empty => {}
            }
        }
        GenBlock { bytes, expected }
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn valid_script_blocks_parse_in_order(
        g in block(),
        crlf_end in any::<bool>(),
        body in vec(any::<u8>(), 0..32),
    ) {
        let mut input = g.bytes.clone();
        let end = line_end(crlf_end);
        input.extend_from_slice(end.as_bytes());
        input.extend_from_slice(&body);
        prop_assert_eq!(
            header_block::find_end(&input, 0),
            Some((g.bytes.len(), g.bytes.len() + end.len()))
        );
        let head = header_block::parse(&g.bytes)
            .unwrap_or_else(|e| panic!("{e:?} for {:?}", String::from_utf8_lossy(&g.bytes)));
        check_accepted_block(&head);
        prop_assert_eq!(head, g.expected);
    }

    #[test]
    fn arbitrary_script_blocks_never_panic(
        input in prop_oneof![
            vec(any::<u8>(), 0..512),
            framing_soup(b"Status: 200\r\nLocation:/x\t Content-Length 9", 0..256),
            (block(), edits()).prop_map(|(g, ed)| mutate(g.bytes, &ed)),
        ],
        from in any::<usize>(),
    ) {
        let from = from % (input.len() + 1);
        if let Some((block_len, body_start)) = header_block::find_end(&input, from) {
            prop_assert!(block_len < body_start && body_start <= input.len());
        }
        if let Ok(head) = header_block::parse(&input) {
            check_accepted_block(&head);
        }
    }

    /// A control character (other than tab) or a bare CR between the
    /// visible characters of any value makes the whole block invalid.
    #[test]
    fn control_characters_inside_values_are_refused(
        g in block(),
        line in any::<usize>(),
        at in any::<usize>(),
        bad in prop_oneof![0u8..0x09, 0x0bu8..0x20, Just(0x7f)],
    ) {
        // Pick a line whose value has two visible characters, and put the
        // bad byte between them.
        let lines: Vec<&[u8]> = g.bytes.split_inclusive(|&b| b == b'\n').collect();
        let candidates: Vec<usize> = (0..lines.len())
            .filter(|&i| {
                let l = lines[i];
                let colon = l.iter().position(|&b| b == b':').unwrap();
                l[colon + 1..].trim_ascii().len() >= 2
            })
            .collect();
        prop_assume!(!candidates.is_empty());
        let target = candidates[line % candidates.len()];
        let mut bytes = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            if i != target {
                bytes.extend_from_slice(l);
                continue;
            }
            let colon = l.iter().position(|&b| b == b':').unwrap();
            let value = l[colon + 1..].trim_ascii();
            let start = colon + 1 + l[colon + 1..].iter().position(|&b| !b.is_ascii_whitespace()).unwrap();
            let inside = start + 1 + at % (value.len() - 1);
            bytes.extend_from_slice(&l[..inside]);
            bytes.push(bad);
            bytes.extend_from_slice(&l[inside..]);
        }
        prop_assert!(
            header_block::parse(&bytes).is_err(),
            "accepted {:?}",
            String::from_utf8_lossy(&bytes)
        );
    }

    #[test]
    fn script_block_end_found_incrementally_agrees(
        input in prop_oneof![
            block().prop_map(|g| g.bytes),
            framing_soup(b"\r\n\r\nA:", 0..48),
        ],
        suffix in framing_soup(b"\r\n", 0..8),
        cuts in vec(any::<usize>(), 0..12),
    ) {
        let mut input = input;
        input.extend_from_slice(&suffix);
        let once = header_block::find_end(&input, 0);
        prop_assert_eq!(incremental(&input, &cuts, header_block::find_end), once);
        prop_assert_eq!(once, block_end_model(&input));
    }
}

/// The end of a script's header block, written out plainly: the first
/// empty line (LF or CRLF), at the very start or after a LF.
fn block_end_model(buf: &[u8]) -> Option<(usize, usize)> {
    (0..=buf.len()).find_map(|i| {
        let at_line_start = i == 0 || buf[i - 1] == b'\n';
        if !at_line_start {
            None
        } else if buf[i..].starts_with(b"\n") {
            Some((i, i + 1))
        } else if buf[i..].starts_with(b"\r\n") {
            Some((i, i + 2))
        } else {
            None
        }
    })
}

proptest! {
    #![proptest_config(config(128))]

    /// A script that frames its own body (any Transfer-Encoding field,
    /// in any case, anywhere in the block) is refused: rcgi frames it.
    #[test]
    fn a_script_transfer_encoding_is_refused(
        g in block(),
        name in any_case("transfer-encoding"),
        value in field_value(20),
        at in any::<usize>(),
    ) {
        let lines: Vec<&[u8]> = g.bytes.split_inclusive(|&b| b == b'\n').collect();
        let at = at % (lines.len() + 1);
        let mut input = Vec::new();
        for line in &lines[..at] {
            input.extend_from_slice(line);
        }
        input.extend_from_slice(format!("{name}: ").as_bytes());
        input.extend_from_slice(&value);
        input.extend_from_slice(b"\n");
        for line in &lines[at..] {
            input.extend_from_slice(line);
        }
        prop_assert!(header_block::parse(&input).is_err());
    }
}

// ---------------------------------------------------------------------
// Body accounting: the body reader against --max-body, with the client's
// bytes cut into arbitrary reads, streamed and spooled.

use parsers::body::{self as body_drive, chunked};
use rcgi::client::BodyError;
use rcgi::front::BodyLimits;

fn body_limits(max: u64) -> BodyLimits {
    BodyLimits {
        max,
        // No rate: these cases test the accounting, not the clock.
        min_rate: 0,
        ..BodyLimits::default()
    }
}

/// A chunk: small, or (now and then) declaring a size near 2^64 that no
/// client could send, with only the data that fits before it is refused.
fn chunk() -> impl Strategy<Value = (u64, Vec<u8>)> {
    prop_oneof![
        8 => vec(any::<u8>(), 1..300).prop_map(|d| (d.len() as u64, d)),
        1 => (0u64..16, vec(any::<u8>(), 0..40))
            .prop_map(|(k, d)| (u64::MAX - k, d)),
    ]
}

fn is_413(outcome: &Result<(), BodyError>) -> bool {
    matches!(outcome, Err(BodyError::Refused(e)) if e.status == 413)
}

proptest! {
    #![proptest_config(config(48))]

    /// A chunked body is refused (413) exactly when the sum of its chunk
    /// sizes passes the bound, however the bytes arrive; a script never
    /// gets more than the bound, and a body within it arrives whole.
    #[test]
    fn chunk_sizes_are_summed_against_the_bound(
        chunks in vec(chunk(), 1..8),
        max in 1u64..2000,
        cuts in vec(any::<usize>(), 0..12),
    ) {
        let input = chunked(&chunks, b"GET /next HTTP/1.1\r\n\r\n");
        let total = chunks.iter().try_fold(0u64, |sum, (size, _)| sum.checked_add(*size));
        let over = total.is_none_or(|t| t > max);
        let streamed = body_drive::stream(BodyFraming::Chunked, body_limits(max), &input, &cuts);
        prop_assert!(streamed.delivered.len() as u64 <= max);
        if over {
            prop_assert!(is_413(&streamed.outcome), "{:?}", streamed.outcome);
        } else {
            prop_assert!(streamed.outcome.is_ok(), "{:?}", streamed.outcome);
            let body: Vec<u8> = chunks.iter().flat_map(|(_, d)| d.clone()).collect();
            prop_assert_eq!(&streamed.delivered, &body);
            prop_assert_eq!(&streamed.after[..], &b"GET /next HTTP/1.1\r\n\r\n"[..]);
        }
        let spooled = body_drive::spool(BodyFraming::Chunked, body_limits(max), &input, &cuts);
        match spooled {
            Ok(content) => {
                prop_assert!(!over);
                prop_assert_eq!(content, chunks.iter().flat_map(|(_, d)| d.clone()).collect::<Vec<u8>>());
            }
            Err(e) => prop_assert!(over && matches!(&e, BodyError::Refused(r) if r.status == 413), "{e:?}"),
        }
    }

    /// A Content-Length body gives the script exactly its bytes, and what
    /// follows stays on the connection for the next request.
    #[test]
    fn a_length_body_ends_where_its_length_says(
        body in vec(any::<u8>(), 1..3000),
        next in vec(any::<u8>(), 0..200),
        cuts in vec(any::<usize>(), 0..12),
    ) {
        let mut input = body.clone();
        input.extend_from_slice(&next);
        let framing = BodyFraming::Length(body.len() as u64);
        let streamed = body_drive::stream(framing, body_limits(1 << 20), &input, &cuts);
        prop_assert!(streamed.outcome.is_ok(), "{:?}", streamed.outcome);
        prop_assert_eq!(&streamed.delivered, &body);
        prop_assert_eq!(&streamed.after, &next);
    }
}

// ---------------------------------------------------------------------
// FastCGI records and name-value pairs (from web servers)

fn pair() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    (vec(any::<u8>(), 0..200), vec(any::<u8>(), 0..300))
}

proptest! {
    #![proptest_config(config(256))]

    /// Generated pairs, framed into records, come back as they went, and
    /// any cut of the stream is read only as far as whole records go.
    #[test]
    fn fastcgi_params_round_trip(pairs in vec(pair(), 0..20), cut in any::<usize>()) {
        let mut stream = Vec::new();
        for (n, v) in &pairs {
            rcgi::front::fastcgi::params::encode(&mut stream, n, v);
        }
        let mut wire = Vec::new();
        rcgi::front::fastcgi::record::write_stream(&mut wire, 4, 1, &stream);
        let (contents, bad) = parsers::fastcgi::check_records(&wire);
        prop_assert!(!bad);
        let joined: Vec<u8> = contents.concat();
        prop_assert_eq!(&joined, &stream);
        prop_assert_eq!(parsers::fastcgi::check_pairs(&joined), Some(pairs));
        let (cut_contents, _) = parsers::fastcgi::check_records(&wire[..cut % (wire.len() + 1)]);
        prop_assert!(cut_contents.len() <= contents.len());
    }

    /// Any bytes: no panic, and what is accepted holds the properties.
    #[test]
    fn fastcgi_parsers_take_any_bytes(data in vec(any::<u8>(), 0..600)) {
        let (contents, _) = parsers::fastcgi::check_records(&data);
        for c in contents {
            parsers::fastcgi::check_pairs(&c);
        }
        parsers::fastcgi::check_pairs(&data);
    }
}
