//! rcgi's manual page and shell completions, generated from the clap
//! definitions at run time (`rcgi --man`, `rcgi --completions SHELL`), so
//! they always describe the binary that prints them.

use std::io::{self, Write};

use clap::CommandFactory;

use super::Args;

/// What to print instead of serving, if the arguments ask for it.
pub fn requested(args: &Args) -> Option<io::Result<()>> {
    let mut out = io::stdout().lock();
    if args.man {
        let page = clap_mangen::Man::new(Args::command());
        return Some(page.render(&mut out).and_then(|()| out.flush()));
    }
    let shell = args.completions?;
    let mut command = Args::command();
    clap_complete::generate(shell, &mut command, "rcgi", &mut out);
    Some(out.flush())
}
