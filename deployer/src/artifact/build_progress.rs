//! What a person sees while cargo (through cargo-lambda) compiles for minutes: on a terminal a
//! spinner with the elapsed time, the number of crates compiled and the one being compiled; off a
//! terminal a plain line at most every 15 s, so a CI log shows the build is alive without a line
//! per crate. cargo's whole stderr is kept, for the error tail when the build fails.

use std::{
    io::{BufRead, BufReader, Read},
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressStyle};

/// How often a plain line is printed off a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(15);

/// The progress of one build.
pub(crate) struct BuildProgress {
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Instant,
    compiled: u64,
    current: String,
    label: String,
}

impl BuildProgress {
    /// Starts showing `label` (e.g. `building notes for aarch64-unknown-linux-gnu`); a spinner
    /// when `interactive`.
    pub(crate) fn start(label: &str, interactive: bool) -> Self {
        let bar = interactive.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar.set_message(label.to_owned());
            bar
        });
        if bar.is_none() {
            eprintln!("{label}...");
        }
        Self {
            bar,
            started: Instant::now(),
            last_line: Instant::now(),
            compiled: 0,
            current: String::new(),
            label: label.to_owned(),
        }
    }

    /// Reads cargo's stderr to its end, showing progress; returns all of it.
    pub(crate) fn follow(&mut self, stderr: impl Read) -> String {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            self.line(&line);
            all.push_str(&line);
            all.push('\n');
        }
        all
    }

    fn line(&mut self, line: &str) {
        let trimmed = line.trim_start();
        let Some(rest) = trimmed
            .strip_prefix("Compiling ")
            .or_else(|| trimmed.strip_prefix("Checking "))
        else {
            return;
        };
        self.compiled += 1;
        self.current = crate_of(rest).to_owned();
        let message = format!(
            "{}: {} crates compiled, now {}",
            self.label, self.compiled, self.current
        );
        match &self.bar {
            Some(bar) => bar.set_message(message),
            None if self.last_line.elapsed() >= PLAIN_EVERY => {
                self.last_line = Instant::now();
                eprintln!("  {message} ({} s)", self.started.elapsed().as_secs());
            }
            None => {}
        }
    }

    /// Ends the display with one line saying how it went.
    pub(crate) fn finish(self, succeeded: bool) {
        let summary = format!(
            "{} {} in {} s ({} crates compiled)",
            self.label,
            if succeeded { "done" } else { "failed" },
            self.started.elapsed().as_secs(),
            self.compiled
        );
        match self.bar {
            Some(bar) => bar.finish_with_message(summary),
            None => eprintln!("{summary}"),
        }
    }
}

/// `aws-sdk-s3 v1.157.0` → `aws-sdk-s3`.
fn crate_of(compiling: &str) -> &str {
    compiling.split_whitespace().next().unwrap_or(compiling)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cargo_lines_are_counted_and_the_rest_kept() {
        let mut progress = super::BuildProgress::start("building x", false);
        let log = "   Compiling serde v1.0.228\n   Compiling aws-sdk-s3 v1.157.0\nwarning: unused\n    Finished `lambda` profile\n";
        let kept = progress.follow(log.as_bytes());
        assert_eq!(kept, log);
        assert_eq!(progress.compiled, 2);
        assert_eq!(progress.current, "aws-sdk-s3");
        progress.finish(true);
    }
}
