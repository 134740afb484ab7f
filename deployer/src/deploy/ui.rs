//! How deploy commands talk to people: progress bars on a terminal, plain lines otherwise; all of
//! it on stderr (stdout carries data such as outputs).

use std::io::IsTerminal;

/// The output mode of a run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ui {
    /// stderr is a terminal: progress bars and prompts.
    pub(crate) interactive: bool,
}

impl Ui {
    /// Decides from the environment.
    pub(crate) fn detect() -> Self {
        Self {
            interactive: std::io::stderr().is_terminal(),
        }
    }

    /// A message line.
    pub(crate) fn say(&self, message: impl AsRef<str>) {
        eprintln!("{}", message.as_ref());
    }

    /// Asks yes/no on the terminal; anything but y/yes is no.
    pub(crate) fn confirm(&self, question: &str) -> bool {
        eprint!("{question} [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).is_ok()
            && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
    }
}
