//! Reading a request body outside a script's exchange: decoding a
//! chunked body into a temporary file (the default for chunked uploads,
//! since CGI scripts want CONTENT_LENGTH), and reading and dropping a
//! body nobody will read, so the connection can carry its next request.

use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::time::Duration;

use super::HttpError;
use super::chunked::{Decoder, Next};
use super::conn::Conn;
use super::request::is_timeout;

/// Most unread body bytes read and dropped to keep a connection open.
pub const DRAIN_MAX: u64 = 256 * 1024;

/// Decodes a chunked body into an unnamed temporary file (gone when
/// closed, even if rcgi dies), refusing it past `max` bytes; returns it
/// rewound, with its length.
pub fn spool(conn: &mut Conn, max: u64, idle: Duration) -> Result<(File, u64), HttpError> {
    let disk = |e: std::io::Error| {
        crate::log::error(format_args!("cannot spool a chunked body: {e}"));
        HttpError::new(500, "cannot store the request body")
    };
    let file = tempfile::tempfile().map_err(disk)?;
    // Small pieces are gathered; a piece of 8 KiB or more is written as it is.
    let mut writer = BufWriter::with_capacity(8 * 1024, file);
    let mut decoder = Decoder::default();
    let mut total: u64 = 0;
    loop {
        let (used, next) = decoder.advance(conn.buffered())?;
        conn.consume(used);
        match next {
            Next::Data(n) => {
                total += n as u64;
                if total > max {
                    return Err(HttpError::new(413, "request body too large"));
                }
                writer.write_all(&conn.buffered()[..n]).map_err(disk)?;
                decoder.took(n);
                conn.consume(n);
            }
            Next::More => match conn.fill(usize::MAX, idle) {
                Ok(0) => return Err(HttpError::new(400, "connection closed mid-body")),
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {
                    return Err(HttpError::new(408, "request body not received in time"));
                }
                Err(_) => return Err(HttpError::new(400, "connection failed mid-body")),
            },
            Next::Done => break,
        }
    }
    let mut file = writer.into_inner().map_err(|e| disk(e.into_error()))?;
    file.rewind().map_err(disk)?;
    Ok((file, total))
}

/// Reads and drops `left` unread body bytes if there are few enough (and
/// their number is known); true if the connection is clean for its next
/// request.
pub fn drain(conn: &mut Conn, left: Option<u64>, idle: Duration) -> bool {
    let Some(mut left) = left.filter(|&n| n <= DRAIN_MAX) else {
        return false;
    };
    while left > 0 {
        match conn.fill(left as usize, idle) {
            Ok(0) | Err(_) => return false,
            Ok(n) => {
                conn.consume(n);
                left -= n as u64;
            }
        }
    }
    true
}
