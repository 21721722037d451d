//! Output of commands: either human text or exactly one JSON document on stdout; progress bars
//! on stderr only when stderr is a terminal and `--json` is off.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};

/// How a command reports to the user.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Print one JSON document instead of text.
    pub json: bool,
    /// Show progress bars (only on a terminal, never with `--json`).
    pub progress: bool,
}

impl Output {
    pub fn new(json: bool, quiet: bool) -> Self {
        let progress = !json && !quiet && std::io::stderr().is_terminal();
        Output { json, progress }
    }

    /// Print the result of a command: `value` as JSON with `--json`, else the `human` text.
    pub fn emit(&self, value: &serde_json::Value, human: impl FnOnce() -> String) {
        let mut out = std::io::stdout().lock();
        if self.json {
            let _ = serde_json::to_writer_pretty(&mut out, value);
            let _ = writeln!(out);
        } else {
            let text = human();
            let _ = write!(out, "{text}");
            if !text.ends_with('\n') {
                let _ = writeln!(out);
            }
        }
    }

    /// A byte-count progress bar, hidden when progress is off.
    pub fn bytes_bar(&self, total: u64, message: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>10} [{bar:32}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(message.to_string());
        bar
    }
}

/// Human-readable byte count (`1.5 MiB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
