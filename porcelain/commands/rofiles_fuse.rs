//! `grove rofiles-fuse`: mount a checkout so that its hardlinked files are
//! read-only (or copied up before a write, with `--copyup`).
//!
//! Like ostree's `rofiles-fuse`, the command returns once the mount is up
//! and keeps serving in the background; `-f` keeps it in the foreground.
//! `fusermount3 -u MNT` (or `umount MNT` as root) ends it.

use std::path::PathBuf;

use anyhow::Context as _;
use grove::rofiles;

use crate::ctx::Ctx;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Break a hardlink by copying the file before it is modified, instead of failing with EROFS
    #[arg(long)]
    copyup: bool,

    /// Stay in the foreground and serve until unmounted
    #[arg(short = 'f', long = "foreground")]
    foreground: bool,

    /// Directory to serve (a checkout made of hardlinks into a repository)
    #[arg(value_name = "SRC")]
    src: PathBuf,

    /// Mount point
    #[arg(value_name = "MNT")]
    mnt: PathBuf,
}

pub fn run(_ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let options = rofiles::Options {
        copyup: args.copyup,
    };
    let mount = rofiles::mount(&args.src, &args.mnt, options)?;
    if args.foreground {
        return serve(mount);
    }
    daemonize(mount)
}

/// Serves until unmounted; SIGINT, SIGTERM and SIGHUP unmount first, as
/// libfuse's `fuse_main` does.
fn serve(mut mount: rofiles::Mount) -> anyhow::Result<()> {
    let mut unmounter = mount.unmounter();
    // SAFETY: plain libc signal-mask calls on a local, initialised sigset.
    // The mask is set before any other thread exists, so every thread
    // (fuser's workers included) inherits it and only the waiter below
    // receives these signals.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::Builder::new()
        .name("rofiles-signals".into())
        .spawn(move || {
            let mut sig = 0;
            // SAFETY: sigwait on a valid set with a valid out pointer.
            if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
                let _ = unmounter.unmount();
            }
        })
        .context("starting the signal thread")?;
    mount.serve()?;
    Ok(())
}

/// Forks after the mount is established: the parent exits 0 (the mount is
/// usable by then), the child detaches and serves until unmounted.
fn daemonize(mount: rofiles::Mount) -> anyhow::Result<()> {
    // SAFETY: grove is single-threaded up to here (fuser's session runs its
    // threads only from `serve`), so the child may keep running Rust code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error()).context("fork");
    }
    if pid > 0 {
        // The parent must not unmount: leave the session to the child.
        std::mem::forget(mount);
        std::process::exit(0);
    }
    let _ = rustix::process::setsid();
    let _ = std::env::set_current_dir("/");
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors, which we own.
            unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), fd) };
        }
    }
    let code = match serve(mount) {
        Ok(()) => 0,
        Err(_) => 1,
    };
    std::process::exit(code)
}
