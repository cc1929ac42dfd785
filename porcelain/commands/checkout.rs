//! `grove checkout`: check out a commit into a filesystem tree.

use crate::ctx::Ctx;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("checkout: not implemented yet")
}
