//! One module per command: an `Args` struct (clap) and `run(ctx, args)`.

use clap::Subcommand;

use crate::ctx::Ctx;

pub mod cat;
pub mod checkout;
pub mod checksum;
pub mod commit;
pub mod completions;
pub mod config;
pub mod diff;
pub mod fsck;
pub mod gpg_sign;
pub mod gpg_verify;
pub mod init;
pub mod log;
pub mod ls;
pub mod promote;
pub mod prune;
pub mod publish;
pub mod pull;
pub mod pull_local;
pub mod refs;
pub mod remote;
pub mod reset;
pub mod rev_parse;
pub mod rofiles_fuse;
pub mod show;
pub mod sign;
pub mod static_delta;
pub mod status;
pub mod summary;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Initialize a new empty repository
    Init(init::Args),
    /// Commit a new revision
    Commit(Box<commit::Args>),
    /// Check out a commit into a filesystem tree
    Checkout(checkout::Args),
    /// List refs; create, delete or alias them
    Refs(refs::Args),
    /// Output the target of a rev
    #[command(name = "rev-parse")]
    RevParse(rev_parse::Args),
    /// Reset a REF to a previous COMMIT
    Reset(reset::Args),
    /// Show log starting at commit or ref
    Log(log::Args),
    /// Output a metadata object
    Show(show::Args),
    /// List file paths
    Ls(ls::Args),
    /// Concatenate contents of files
    Cat(cat::Args),
    /// Compare directory TARGETDIR against revision REV
    Diff(diff::Args),
    /// Checksum a file or directory
    Checksum(checksum::Args),
    /// Change repo configuration settings
    Config(config::Args),
    /// Check the repository for consistency
    Fsck(fsck::Args),
    /// Prune unreachable objects
    Prune(prune::Args),
    /// Manage static delta files
    #[command(name = "static-delta")]
    StaticDelta(static_delta::Args),
    /// Manage the summary metadata
    Summary(summary::Args),
    /// Sign a commit
    #[command(name = "gpg-sign")]
    GpgSign(gpg_sign::Args),
    /// Verify commit signatures
    #[command(name = "gpg-verify")]
    GpgVerify(gpg_verify::Args),
    /// Print shell completions for bash, zsh, fish, elvish or powershell
    Completions(completions::Args),
    /// Write man pages generated from the command definitions into a directory
    #[command(hide = true)]
    Man(completions::ManArgs),
    /// Manage remote repositories
    Remote(remote::Args),
    /// Download data from a remote repository
    Pull(pull::Args),
    /// Copy data from a local repository
    #[command(name = "pull-local")]
    PullLocal(pull_local::Args),
    /// Mount a checkout so that hardlinked files cannot be modified
    #[command(name = "rofiles-fuse")]
    RofilesFuse(rofiles_fuse::Args),
    /// Promote a tree to another ref, or from a dev repository to this one
    #[command(disable_version_flag = true)]
    Promote(promote::Args),
    /// Sign ref tips or commits (and the summary) with the configured key
    Sign(sign::Args),
    /// Show refs, signatures, deltas, summary freshness and hooks
    Status(status::Args),
    /// Publish the repository to object storage or a directory, in a client-safe order
    Publish(publish::Args),
}

pub fn run(ctx: &Ctx, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Init(a) => init::run(ctx, a),
        Command::Commit(a) => commit::run(ctx, *a),
        Command::Checkout(a) => checkout::run(ctx, a),
        Command::Refs(a) => refs::run(ctx, a),
        Command::RevParse(a) => rev_parse::run(ctx, a),
        Command::Reset(a) => reset::run(ctx, a),
        Command::Log(a) => log::run(ctx, a),
        Command::Show(a) => show::run(ctx, a),
        Command::Ls(a) => ls::run(ctx, a),
        Command::Cat(a) => cat::run(ctx, a),
        Command::Diff(a) => diff::run(ctx, a),
        Command::Checksum(a) => checksum::run(ctx, a),
        Command::Config(a) => config::run(ctx, a),
        Command::Fsck(a) => fsck::run(ctx, a),
        Command::Prune(a) => prune::run(ctx, a),
        Command::StaticDelta(a) => static_delta::run(ctx, a),
        Command::Summary(a) => summary::run(ctx, a),
        Command::GpgSign(a) => gpg_sign::run(ctx, a),
        Command::GpgVerify(a) => gpg_verify::run(ctx, a),
        Command::Completions(a) => completions::run(a),
        Command::Man(a) => completions::man(a),
        Command::Remote(a) => remote::run(ctx, a),
        Command::Pull(a) => pull::run(ctx, a),
        Command::PullLocal(a) => pull_local::run(ctx, a),
        Command::Publish(a) => publish::run(ctx, a),
        Command::RofilesFuse(a) => rofiles_fuse::run(ctx, a),
        Command::Promote(a) => promote::run(ctx, a),
        Command::Sign(a) => sign::run(ctx, a),
        Command::Status(a) => status::run(ctx, a),
    }
}
