//! The progress bar of a long command (a benchmark, a disk or perf check): drawn on
//! stderr when stderr is a terminal, absent otherwise, so a pipe, a log or a CI job
//! gets no redraws and stdout stays the report alone.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Bar(Option<ProgressBar>);

impl Bar {
    /// A bar of `len` steps drawn with indicatif's `template` (the default style if
    /// the template does not parse).
    pub fn new(len: u64, template: &str) -> Bar {
        if !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Bar(Some(bar))
    }

    pub fn set_position(&self, pos: u64) {
        if let Some(b) = &self.0 {
            b.set_position(pos);
        }
    }

    pub fn set_message(&self, message: &'static str) {
        if let Some(b) = &self.0 {
            b.set_message(message);
        }
    }

    /// Clears the bar, so the report printed next starts on a clean line.
    pub fn finish(self) {
        if let Some(b) = self.0 {
            b.finish_and_clear();
        }
    }
}
