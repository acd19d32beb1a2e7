//! Reading a request body outside a script's exchange: decoding a
//! chunked body into a temporary file (the default for chunked uploads,
//! since CGI scripts want CONTENT_LENGTH), and reading and dropping a
//! body nobody will read, so the connection can carry its next request.

use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::time::Duration;

use super::HttpError;
use super::chunked::{Decoder, FRAMING_READ, Next};
use super::conn::Conn;
use super::relay::{BULK_PIPE, bulk_pipe};
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
    // The data of large chunks goes from the socket to the file by splice.
    let mut pipe = None;
    let mut decoder = Decoder::default();
    let mut total: u64 = 0;
    loop {
        let (used, next) = decoder.advance(conn.buffered())?;
        conn.consume(used);
        match next {
            Next::Data(n) => {
                total = total.saturating_add(n as u64);
                if total > max {
                    return Err(HttpError::new(413, "request body too large"));
                }
                writer.write_all(&conn.buffered()[..n]).map_err(disk)?;
                decoder.took(n);
                conn.consume(n);
            }
            Next::More if decoder.data_left() > 0 && conn.buffered().is_empty() => {
                let left = decoder.data_left();
                if total.checked_add(left).is_none_or(|sum| sum > max) {
                    return Err(HttpError::new(413, "request body too large"));
                }
                writer.flush().map_err(disk)?;
                if pipe.is_none() {
                    pipe = Some(bulk_pipe().map_err(disk)?);
                }
                let step = usize::try_from(left).unwrap_or(usize::MAX).min(BULK_PIPE);
                let pipe = pipe.as_ref().expect("made above");
                let n = conn
                    .splice_to_file(pipe, writer.get_ref(), step, idle)
                    .map_err(read_error)?;
                if n == 0 {
                    return Err(HttpError::new(400, "connection closed mid-body"));
                }
                decoder.took(n);
                total += n as u64;
            }
            Next::More => {
                let max = match decoder.data_left() {
                    0 => FRAMING_READ,
                    _ => usize::MAX,
                };
                match conn.fill(max, idle) {
                    Ok(0) => return Err(HttpError::new(400, "connection closed mid-body")),
                    Ok(_) => {}
                    Err(e) => return Err(read_error(e)),
                }
            }
            Next::Done => break,
        }
    }
    let mut file = writer.into_inner().map_err(|e| disk(e.into_error()))?;
    file.rewind().map_err(disk)?;
    Ok((file, total))
}

/// The error for a body that could not be read.
fn read_error(e: std::io::Error) -> HttpError {
    if is_timeout(&e) {
        HttpError::new(408, "request body not received in time")
    } else {
        HttpError::new(400, "connection failed mid-body")
    }
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
