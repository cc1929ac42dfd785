//! `grove config`: change repo configuration settings.

use crate::ctx::Ctx;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("config: not implemented yet")
}
