//! The command line of `bri`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "bri",
    version,
    about = "Archive, verify and restore BRI databases and file sets"
)]
pub struct Cli {
    /// Print one machine-readable JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Configuration file (JSON; see `bri config`). Environment variables fill in what it
    /// does not say; flags override both.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, inspect, verify and extract archive files.
    #[command(subcommand)]
    Archive(ArchiveCommand),
    /// Read a BRI data directory: state at a point in time, chain verification, statistics.
    #[command(subcommand)]
    Db(crate::db::DbCommand),
    /// Restore a BRI data directory from its archives: latest, a given archive, or a time.
    #[command(subcommand)]
    Restore(RestoreCommand),
    /// Print the effective configuration (defaults, environment, --config file), secrets
    /// redacted.
    Config,
}

/// Where the BRI data directory and its local archive store are.
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// The BRI data directory (default: the config's dataDir, else ./data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The local archive store (default: the config's archive.localDir, else
    /// <data-dir>/archives).
    #[arg(long)]
    pub local_dir: Option<PathBuf>,
}

impl StoreArgs {
    /// The data directory and the store, flags first, then the configuration.
    pub fn resolve(&self, cfg: &crate::config::Config) -> (PathBuf, PathBuf) {
        let data = self
            .data_dir
            .clone()
            .or_else(|| cfg.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("./data"));
        let store = self
            .local_dir
            .clone()
            .unwrap_or_else(|| cfg.local_dir(&data));
        (data, store)
    }
}

#[derive(Debug, Args)]
pub struct BriCreateArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Archive name recorded in the manifest.
    #[arg(long)]
    pub name: Option<String>,
    /// zstd level, 1 to 22 (default: archive.compression.level, 19).
    #[arg(short, long)]
    pub level: Option<i32>,
    /// Reed-Solomon parity in percent of the archive, 0 disables it (default:
    /// archive.errorCorrection, 10).
    #[arg(long)]
    pub redundancy: Option<u8>,
    /// `permanent` or a number of days.
    #[arg(long)]
    pub retention: Option<String>,
    /// Compression threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Skip decoding each frame again and re-reading the file before it is published.
    #[arg(long)]
    pub no_verify: bool,
}

#[derive(Debug, Subcommand)]
pub enum RestoreCommand {
    /// List the archives that restores can use (oldest first), with their line and time ranges.
    List(RestoreListArgs),
    /// Restore the latest archived state.
    Latest(RestoreArgs),
    /// Restore the state at the end of one archive.
    From {
        /// The archive id (see `bri restore list`).
        id: String,
        #[command(flatten)]
        args: RestoreArgs,
    },
    /// Show the archive a restore would use: id, line and time ranges, documents.
    Info(IdArgs),
    /// Check an archive for restoring: integrity, parity, snapshot and WAL replay, chain.
    Verify(IdArgs),
    /// Restore an archive's end state into a new directory that becomes a separate database
    /// (its own instance id and archive store).
    Clone {
        /// The archive id.
        id: String,
        /// The new data directory (must not exist, or be empty).
        #[arg(long)]
        target: PathBuf,
        /// Instance id of the clone (default: a new random one).
        #[arg(long)]
        instance_id: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Restore the state at a point in time: every WAL line with timestamp <= T applied.
    ToTimestamp {
        /// RFC 3339 or epoch milliseconds.
        time: String,
        #[command(flatten)]
        args: RestoreArgs,
    },
}

#[derive(Debug, Args)]
pub struct RestoreListArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Only archives ending at or after this time.
    #[arg(long)]
    pub after: Option<String>,
    /// Only archives starting at or before this time.
    #[arg(long)]
    pub before: Option<String>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Directory to restore into (default: the data directory). An existing one is moved
    /// aside to <target>.bak-<time> unless --clean.
    #[arg(long)]
    pub target: Option<PathBuf>,
    /// Print the plan (archive, lines, time reached) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Replace the existing directory instead of keeping it as a backup.
    #[arg(long)]
    pub clean: bool,
    /// Run this shell command at each phase (before, afterSnapshot, after) with
    /// BRI_HOOK_PHASE, BRI_ARCHIVE_ID and BRI_TARGET in its environment; a failing `before`
    /// hook aborts the restore before anything is written.
    #[arg(long)]
    pub hook: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// Archive a directory or a list of files into one `.bri.zst` file.
    CreateFiles(CreateFilesArgs),
    /// Show an archive's manifest and members (reads only the file's tail and manifest).
    Inspect(FileArg),
    /// Check parity stripes, every frame and member checksum; exit 0 intact, 3 damaged but
    /// repairable, 4 beyond repair.
    Verify(VerifyArgs),
    /// Extract every member into a directory (never writes outside it).
    Extract(ExtractArgs),
    /// Rebuild a damaged archive from its parity, byte-identical to the original.
    Repair(RepairArgs),
    /// Archive what is new in a BRI data directory (snapshot + WAL since the last archive).
    Create(BriCreateArgs),
    /// List the BRI archives in the local store.
    List(StoreArgs),
    /// Show one archive (by id in the store, or a file): manifest, line and time ranges.
    Info(IdArgs),
    /// Delete an archive from the local store.
    Delete(DeleteArgs),
    /// Totals of the local store: archives, bytes, ratio, lines and time covered.
    Stats(StoreArgs),
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// An archive id (`arc_...`, looked up in the store) or an archive file.
    pub id: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The archive id.
    pub id: String,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Also delete the newest archive of the current timeline (the next archive would then
    /// re-archive its lines, which WAL clean-up may already have removed).
    #[arg(long)]
    pub force: bool,
    /// Say what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct RepairArgs {
    /// The archive file (repaired in place through a temporary file, unless -o).
    pub file: PathBuf,
    /// Write the repaired archive here instead.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Replace OUTPUT if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CreateFilesArgs {
    /// A directory (archived recursively, paths relative to it) or files.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The archive to write (`*.bri.zst`). Refuses to overwrite unless --force.
    #[arg(short, long)]
    pub output: PathBuf,
    /// zstd level, 1 to 22.
    #[arg(short, long, default_value_t = 3)]
    pub level: i32,
    /// Uncompressed bytes per zstd frame (large members are split). Default: twice the
    /// level's match window, 4 MiB up to level 7, 8 MiB to 16, 16 MiB to 19, 32 MiB above.
    #[arg(long)]
    pub frame_size: Option<usize>,
    /// Compression threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Overwrite OUTPUT if it exists.
    #[arg(long)]
    pub force: bool,
    /// Archive name recorded in the manifest.
    #[arg(long)]
    pub name: Option<String>,
    /// Reed-Solomon parity stored in the archive, in percent of its size (0 disables it).
    #[arg(long, default_value_t = bri_core::parity::DEFAULT_REDUNDANCY_PERCENT)]
    pub redundancy: u8,
    /// Skip re-reading and verifying the archive before it is given its final name.
    #[arg(long)]
    pub no_verify: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The archive file (or an archive id in the store).
    pub file: PathBuf,
    /// Check only the parity layer: every byte of the file against its shard hash, the index
    /// copies and the seek table, without decompressing (a fast scrub). Archives without
    /// parity are always checked in full.
    #[arg(long)]
    pub quick: bool,
}

#[derive(Debug, Args)]
pub struct FileArg {
    /// The archive file.
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// The archive file.
    pub file: PathBuf,
    /// Directory to extract into (created if missing; must be empty unless --force).
    #[arg(long)]
    pub to: PathBuf,
    /// Extract only this member (repeatable).
    #[arg(long = "member")]
    pub members: Vec<String>,
    /// Extract into a non-empty directory, overwriting files of the same name.
    #[arg(long)]
    pub force: bool,
}
