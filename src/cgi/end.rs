//! How an exchange with a script ends: the one reason the exchange
//! stops, which [`super::verdict`] turns into a log line and a response.

use super::response::Fault;
use crate::status::Refusal;

/// How the exchange ended.
#[derive(Debug)]
pub enum End {
    /// The script's output ended and the whole response was sent.
    Done,
    /// The script asked for a local redirect to this path; nothing was
    /// sent.
    Redirect(Vec<u8>),
    /// The script broke CGI before its response began.
    Fault(Fault),
    /// The script's time ran out.
    Timeout,
    /// The script was killed by this signal after its response began.
    Killed(nix::sys::signal::Signal),
    /// The client stopped sending the request body it owes.
    BodyStalled,
    /// The request body was refused: invalid framing, too large, or too
    /// slow.
    BadBody(Refusal),
    /// The client closed or reset the connection, or stopped reading.
    ClientGone(&'static str),
}
