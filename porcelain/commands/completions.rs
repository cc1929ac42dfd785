//! `grove completions SHELL` and `grove man DIR`: generated from the clap
//! definitions, so help, man pages and completions never drift apart.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::CommandFactory;

use crate::Cli;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Shell to generate completions for
    shell: clap_complete::Shell,
}

#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Directory to write grove.1 and grove-COMMAND.1 into
    dir: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "grove", &mut buf);
    std::io::Write::write_all(&mut std::io::stdout(), &buf)?;
    Ok(())
}

pub fn man(args: ManArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let cmd = Cli::command();
    clap_mangen::generate_to(cmd, &args.dir)
        .with_context(|| format!("writing man pages to {}", args.dir.display()))?;
    Ok(())
}
