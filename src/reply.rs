//! rcgi's own responses, whatever protocol carries them: a short
//! plain-text page saying what went wrong, a redirect, a 503 that says
//! when to come back, or any whole document (the status pages). A 400
//! ends the connection (the request could not be framed, so nothing
//! after it can be trusted).

use crate::client::{Head, Served, Sink};
use crate::status::{Refusal, reason};

/// The first (and, but for `--debug`, only) line of rcgi's own pages:
/// `404 Not Found: no script at this path`.
pub fn error_line(status: u16, detail: &str) -> String {
    format!("{status} {}: {detail}\n", reason(status))
}

/// A request refused with `e`'s status and reason.
pub fn refusal<S: Sink + ?Sized>(sink: &mut S, e: &Refusal) -> Served {
    let allow = [("Allow".to_string(), b"GET, HEAD".to_vec())];
    let fields: &[_] = if e.status == 405 { &allow } else { &[] };
    page(sink, e.status, &error_line(e.status, e.reason), fields)
}

/// 503 with `Retry-After`.
pub fn busy<S: Sink + ?Sized>(sink: &mut S, why: &str) -> Served {
    let retry = [("Retry-After".to_string(), b"1".to_vec())];
    page(sink, 503, &error_line(503, why), &retry)
}

/// 401 with the `WWW-Authenticate` challenge.
pub fn unauthorized<S: Sink + ?Sized>(sink: &mut S, challenge: &str) -> Served {
    let fields = [(
        "WWW-Authenticate".to_string(),
        challenge.as_bytes().to_vec(),
    )];
    page(
        sink,
        401,
        &error_line(401, "authentication required"),
        &fields,
    )
}

/// 301 to `location`.
pub fn moved<S: Sink + ?Sized>(sink: &mut S, location: &str) -> Served {
    let fields = [("Location".to_string(), location.as_bytes().to_vec())];
    page(sink, 301, &error_line(301, location), &fields)
}

/// A `text/plain` page with `body` and any `extra` fields, sent whole.
pub fn page<S: Sink + ?Sized>(
    sink: &mut S,
    status: u16,
    body: &str,
    extra: &[(String, Vec<u8>)],
) -> Served {
    document(sink, status, "text/plain; charset=utf-8", body, extra)
}

/// An HTML page rcgi made (a listing, the inspector), never cached.
pub fn html<S: Sink + ?Sized>(sink: &mut S, status: u16, body: &str) -> Served {
    let no_store = [("Cache-Control".to_string(), b"no-store".to_vec())];
    document(sink, status, "text/html; charset=utf-8", body, &no_store)
}

/// A page of `content_type` with `body` and any `extra` fields, sent
/// whole.
pub fn document<S: Sink + ?Sized>(
    sink: &mut S,
    status: u16,
    content_type: &str,
    body: &str,
    extra: &[(String, Vec<u8>)],
) -> Served {
    let mut fields = vec![("Content-Type".to_string(), content_type.as_bytes().to_vec())];
    fields.extend_from_slice(extra);
    if status == 400 {
        sink.close_after();
    }
    sink.start(&Head {
        status,
        reason: reason(status),
        fields: &fields,
        length: Some(body.len() as u64),
    });
    sink.write(body.as_bytes());
    // The length is the body's own: nothing can be missing.
    let _ = sink.finish();
    if sink.send_all().is_err() {
        sink.close_after();
    }
    sink.served()
}
