//! What arrives on a FastCGI connection, record by record: management
//! records are answered where they stand ([`super::management`]), and
//! the application records a responder cares about come out as
//! [`Event`]s. A record of a type no web server sends, or one that is
//! malformed, is an error that ends the connection.

use super::conn::Conn;
use super::management;
use super::record::{
    self, ABORT_REQUEST, BEGIN_REQUEST, DATA, KEEP_CONN, Malformed, PARAMS, STDIN,
};

/// An application record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Begin {
        id: u16,
        role: u16,
        keep: bool,
    },
    Abort(u16),
    /// A piece of a request's `PARAMS` stream (empty: its end).
    Params(u16, Vec<u8>),
    /// A piece of a request's `STDIN` stream (empty: its end).
    Stdin(u16, Vec<u8>),
}

/// The next application record received whole, after answering the
/// management records before it; None until one has arrived.
pub fn next(conn: &mut Conn, max_conns: usize) -> Result<Option<Event>, Malformed> {
    loop {
        let Some((h, content, len)) = conn.record()? else {
            return Ok(None);
        };
        let mut reply = Vec::new();
        let event = match (h.id, h.kind) {
            (0, kind) => {
                management::answer(kind, content, max_conns, &mut reply)?;
                None
            }
            (id, BEGIN_REQUEST) => {
                let (role, flags) = record::begin_body(content)?;
                Some(Event::Begin {
                    id,
                    role,
                    keep: flags & KEEP_CONN != 0,
                })
            }
            (id, ABORT_REQUEST) => Some(Event::Abort(id)),
            (id, PARAMS) => Some(Event::Params(id, content.to_vec())),
            (id, STDIN) => Some(Event::Stdin(id, content.to_vec())),
            // The filter role's data stream: not rcgi's role.
            (_, DATA) => None,
            _ => return Err(Malformed("a record of a type web servers do not send")),
        };
        conn.consume(len);
        conn.out.extend_from_slice(&reply);
        if event.is_some() {
            return Ok(event);
        }
    }
}
