//! The options of custody: how long what a request leaves running may
//! go on (`--linger`) and how a request's processes are held
//! (`--contain`); they build a `cgi::custody::Settings`.

use std::time::Duration;

use super::values::parse_duration;
use crate::cgi::custody::{Contain, Settings};

#[derive(Debug, Clone, clap::Args)]
pub struct CustodyArgs {
    /// How long the processes a request started may outlive its
    /// response (a mailer's hand-off, a program's background work), then
    /// they are killed and logged; `unlimited` never kills them.
    #[arg(long, value_name = "TIME", default_value = "5s", value_parser = parse_linger, help_heading = "Containment")]
    pub linger: Linger,

    /// How a request's processes are held: `cgroup` (a cgroup v2 leaf
    /// per request; nothing leaves it), `group` (the script's process
    /// group, and the orphans rcgi adopts as subreaper), or `auto`
    /// (cgroup where rcgi's cgroup is its own, once scripts are started
    /// in their cgroup; group until then).
    #[arg(long, value_enum, default_value_t = ContainArg::Auto, value_name = "HOW", help_heading = "Containment")]
    pub contain: ContainArg,
}

/// A `--linger`: a time, or for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Linger(pub Option<Duration>);

fn parse_linger(s: &str) -> Result<Linger, String> {
    if s == "unlimited" {
        return Ok(Linger(None));
    }
    parse_duration(s).map(|d| Linger(Some(d)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ContainArg {
    Auto,
    Cgroup,
    /// `session` was its name before scripts stopped leading a session.
    #[value(alias = "session")]
    Group,
}

impl CustodyArgs {
    pub fn settings(&self) -> Settings {
        Settings {
            linger: self.linger.0,
            contain: match self.contain {
                ContainArg::Auto => Contain::Auto,
                ContainArg::Cgroup => Contain::Cgroup,
                ContainArg::Group => Contain::Group,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linger_is_a_time_or_unlimited() {
        assert_eq!(parse_linger("1s"), Ok(Linger(Some(Duration::from_secs(1)))));
        assert_eq!(parse_linger("unlimited"), Ok(Linger(None)));
        assert!(parse_linger("0s").is_err());
        assert!(parse_linger("25h").is_err());
        assert!(parse_linger("forever").is_err());
    }
}
