//! `grove rofiles-fuse`: mount a checkout read-only for hardlinked files.

use crate::ctx::Ctx;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("rofiles-fuse: not implemented yet")
}
