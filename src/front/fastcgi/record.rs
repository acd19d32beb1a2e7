//! FastCGI 1.0 records: the 8-byte header (version, type, request id,
//! content length, padding length), the record types rcgi knows, a
//! bounded and validated parse of a header, and the writing of records,
//! a stream split into records of at most [`MAX_CONTENT`] bytes each,
//! padded to a multiple of 8.

/// The one protocol version (`FCGI_VERSION_1`).
pub const VERSION: u8 = 1;
/// Bytes of a record header.
pub const HEADER: usize = 8;
/// The most content bytes a record carries (its 16-bit length).
pub const MAX_CONTENT: usize = 0xffff;
/// The largest record on the wire: header, content and padding.
pub const MAX_RECORD: usize = HEADER + MAX_CONTENT + 0xff;
/// Content bytes rcgi puts in one record it writes: a multiple of 8, so
/// that no padding is needed but for the last one.
const WRITE_CONTENT: usize = MAX_CONTENT & !7;

pub const BEGIN_REQUEST: u8 = 1;
pub const ABORT_REQUEST: u8 = 2;
pub const END_REQUEST: u8 = 3;
pub const PARAMS: u8 = 4;
pub const STDIN: u8 = 5;
pub const STDOUT: u8 = 6;
pub const STDERR: u8 = 7;
pub const DATA: u8 = 8;
pub const GET_VALUES: u8 = 9;
pub const GET_VALUES_RESULT: u8 = 10;
pub const UNKNOWN_TYPE: u8 = 11;

/// Roles (`FCGI_RESPONDER` is the one rcgi plays).
pub const RESPONDER: u16 = 1;
/// `FCGI_KEEP_CONN`: the web server keeps the connection after the request.
pub const KEEP_CONN: u8 = 1;

/// Protocol statuses of `FCGI_END_REQUEST`.
pub const REQUEST_COMPLETE: u8 = 0;
pub const CANT_MPX_CONN: u8 = 1;
pub const OVERLOADED: u8 = 2;
pub const UNKNOWN_ROLE: u8 = 3;

/// A record's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: u8,
    /// The request id; 0 for a management record.
    pub id: u16,
    pub content: u16,
    pub padding: u8,
}

/// Why a record cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl Header {
    /// Reads a header from the first [`HEADER`] bytes.
    pub fn parse(b: &[u8; HEADER]) -> Result<Header, Malformed> {
        if b[0] != VERSION {
            return Err(Malformed("record of an unknown FastCGI version"));
        }
        Ok(Header {
            kind: b[1],
            id: u16::from_be_bytes([b[2], b[3]]),
            content: u16::from_be_bytes([b[4], b[5]]),
            padding: b[6],
        })
    }

    /// The record's whole length on the wire (at most [`MAX_RECORD`]).
    pub fn wire_len(&self) -> usize {
        HEADER + usize::from(self.content) + usize::from(self.padding)
    }
}

/// A whole record: its header, its content, and its length on the wire.
pub type Whole<'a> = (Header, &'a [u8], usize);

/// The first whole record in `buf`; None while it has not all arrived.
pub fn split(buf: &[u8]) -> Result<Option<Whole<'_>>, Malformed> {
    let Some(head) = buf.first_chunk::<HEADER>() else {
        return Ok(None);
    };
    let header = Header::parse(head)?;
    let len = header.wire_len();
    if buf.len() < len {
        return Ok(None);
    }
    let content = &buf[HEADER..HEADER + usize::from(header.content)];
    Ok(Some((header, content, len)))
}

/// Appends one record of `kind` for request `id` with `content` (at most
/// [`MAX_CONTENT`] bytes; the caller splits longer content), padded to
/// a multiple of 8.
pub fn write(out: &mut Vec<u8>, kind: u8, id: u16, content: &[u8]) {
    debug_assert!(content.len() <= MAX_CONTENT);
    let len = content.len().min(MAX_CONTENT);
    let padding = (8 - len % 8) % 8;
    let [l1, l0] = (len as u16).to_be_bytes();
    let [i1, i0] = id.to_be_bytes();
    out.extend_from_slice(&[VERSION, kind, i1, i0, l1, l0, padding as u8, 0]);
    out.extend_from_slice(&content[..len]);
    out.extend_from_slice(&[0; 8][..padding]);
}

/// Appends `data` to a stream (`STDOUT`, `STDERR`) as records; nothing
/// for empty data (an empty record would end the stream).
pub fn write_stream(out: &mut Vec<u8>, kind: u8, id: u16, data: &[u8]) {
    for piece in data.chunks(WRITE_CONTENT) {
        write(out, kind, id, piece);
    }
}

/// Appends `FCGI_END_REQUEST` with the script's exit `app` status and the
/// protocol status.
pub fn end_request(out: &mut Vec<u8>, id: u16, app: u32, status: u8) {
    let a = app.to_be_bytes();
    write(
        out,
        END_REQUEST,
        id,
        &[a[0], a[1], a[2], a[3], status, 0, 0, 0],
    );
}

/// The body of `FCGI_BEGIN_REQUEST`: its role and flags.
pub fn begin_body(content: &[u8]) -> Result<(u16, u8), Malformed> {
    match content {
        [r1, r0, flags, _, _, _, _, _] => Ok((u16::from_be_bytes([*r1, *r0]), *flags)),
        _ => Err(Malformed("BEGIN_REQUEST record of the wrong length")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_with_padding() {
        let mut out = Vec::new();
        write(&mut out, STDOUT, 7, b"hello");
        assert_eq!(out.len(), 16);
        assert_eq!(&out[..8], &[1, STDOUT, 0, 7, 0, 5, 3, 0]);
        let (h, content, len) = split(&out).unwrap().unwrap();
        assert_eq!((h.kind, h.id, content, len), (STDOUT, 7, &b"hello"[..], 16));
        assert_eq!(split(&out[..15]).unwrap(), None);
        assert_eq!(split(&out[..3]).unwrap(), None);
    }

    #[test]
    fn bad_version_is_malformed() {
        let raw = [2, STDIN, 0, 1, 0, 0, 0, 0];
        assert!(split(&raw).is_err());
    }

    #[test]
    fn long_streams_split_and_largest_record_bounded() {
        let data = vec![7u8; 200_000];
        let mut out = Vec::new();
        write_stream(&mut out, STDOUT, 1, &data);
        let mut rest = &out[..];
        let mut total = 0;
        while let Some((h, content, len)) = split(rest).unwrap() {
            assert!(len <= MAX_RECORD);
            assert_eq!(h.padding as usize, (8 - content.len() % 8) % 8);
            total += content.len();
            rest = &rest[len..];
        }
        assert!(rest.is_empty());
        assert_eq!(total, data.len());
        let mut none = Vec::new();
        write_stream(&mut none, STDOUT, 1, b"");
        assert!(none.is_empty());
    }

    #[test]
    fn begin_bodies() {
        assert_eq!(
            begin_body(&[0, 1, 1, 0, 0, 0, 0, 0]),
            Ok((RESPONDER, KEEP_CONN))
        );
        assert!(begin_body(&[0, 1, 1]).is_err());
    }
}
