//! Progress bars for long work (hidden when stderr is not a terminal or with --json).

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar driven by (stage, fraction) callbacks.
pub struct Stages {
    bar: ProgressBar,
}

impl Stages {
    /// A bar labelled `what`; hidden when `quiet`.
    pub fn new(what: &str, quiet: bool) -> Self {
        let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(1000) };
        bar.set_style(ProgressStyle::with_template("{prefix} [{bar:30}] {msg}").unwrap().progress_chars("=> "));
        bar.set_prefix(what.to_string());
        Stages { bar }
    }

    /// Updates stage name and fraction done.
    pub fn update(&self, stage: &str, frac: f64) {
        self.bar.set_message(stage.to_string());
        self.bar.set_position((frac.clamp(0.0, 1.0) * 1000.0) as u64);
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
