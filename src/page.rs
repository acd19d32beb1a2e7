//! rcgi's own responses to one request: short error pages (with the whole
//! story of a script's failure under `--debug`), redirects, and the
//! `Connection` field that says whether the connection goes on. A body
//! left unread on the wire always ends the connection.

use std::time::Duration;

use crate::cgi::Failure;
use crate::http::conn::Conn;
use crate::http::request::{BodyFraming, Request};
use crate::http::response::{self, Connection};
use crate::http::{HttpError, Version};
use crate::serve::Served;

/// How long writing one of rcgi's own pages may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Page<'a, 'c> {
    pub conn: &'c mut Conn,
    pub req: &'a Request,
    pub head_only: bool,
    /// A body is still on the wire: the connection cannot go on.
    pub body_unread: bool,
}

impl<'a, 'c> Page<'a, 'c> {
    pub fn new(conn: &'c mut Conn, req: &'a Request) -> Page<'a, 'c> {
        Page {
            conn,
            req,
            head_only: req.method == "HEAD",
            body_unread: !matches!(req.body, BodyFraming::None | BodyFraming::Length(0)),
        }
    }

    /// The `Connection` field for a response after which the connection
    /// closes (`close`), or goes on.
    pub fn connection(&self, close: bool) -> Connection {
        match (
            close || self.body_unread || !self.req.keep_alive,
            self.req.version,
        ) {
            (true, _) => Connection::Close,
            (false, Version::Http10) => Connection::KeepAlive,
            (false, Version::Http11) => Connection::Default,
        }
    }

    pub fn error(&mut self, e: HttpError) -> Served {
        let allow = [("Allow".to_string(), b"GET, HEAD".to_vec())];
        let fields: &[_] = if e.status == 405 { &allow } else { &[] };
        self.send(e.status, &response::error_line(e.status, e.reason), fields)
    }

    /// 503 with `Retry-After`.
    pub fn busy(&mut self, why: &'static str) -> Served {
        let retry = [("Retry-After".to_string(), b"1".to_vec())];
        self.send(503, &response::error_line(503, why), &retry)
    }

    /// 301 to `location`.
    pub fn moved(&mut self, location: &str) -> Served {
        let fields = [("Location".to_string(), location.as_bytes().to_vec())];
        self.send(301, &response::error_line(301, location), &fields)
    }

    /// A script's failure: the short page, or with `report` (`--debug`)
    /// the whole story.
    pub fn failure(&mut self, f: &Failure, report: Option<String>) -> Served {
        let body = report.unwrap_or_else(|| response::error_line(f.status, f.short));
        self.send(f.status, &body, &[])
    }

    fn send(&mut self, status: u16, body: &str, fields: &[(String, Vec<u8>)]) -> Served {
        let close = self.body_unread || !self.req.keep_alive || status == 400;
        let connection = self.connection(close);
        let mut out = Vec::with_capacity(256 + body.len());
        let bytes = response::text_page(&mut out, status, body, self.head_only, connection, fields);
        let sent = self.conn.write_all(&out, WRITE_TIMEOUT).is_ok();
        Served {
            status,
            bytes,
            close: close || !sent,
        }
    }
}
