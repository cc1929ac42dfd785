//! `grove reset`: reset a ref to a previous commit.

use crate::ctx::Ctx;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("reset: not implemented yet")
}
