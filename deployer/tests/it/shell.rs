//! `mcpctl completions` and `mcpctl man`: each shell's script is one the shell itself accepts
//! (bash and zsh parse it here when installed), and it names every command.

use std::process::Command;

use crate::support::{mcpctl, run};

const COMMANDS: [&str; 6] = [
    "dev",
    "deploy",
    "smoke-test",
    "register-client",
    "new",
    "completions",
];

#[test]
fn every_shell_gets_a_script_naming_every_command() {
    for (shell, marker) in [
        ("bash", "complete -F _mcpctl"),
        ("zsh", "#compdef mcpctl"),
        ("fish", "complete -c mcpctl"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[mcpctl]"),
    ] {
        let out = run(mcpctl().args(["completions", shell]));
        assert!(out.status.success(), "{shell}: {}", out.stderr);
        assert!(out.stdout.contains(marker), "{shell}: no `{marker}`");
        for command in COMMANDS {
            assert!(out.stdout.contains(command), "{shell}: no `{command}`");
        }
    }
}

#[test]
fn bash_loads_the_script_and_completes_the_commands() {
    let script = run(mcpctl().args(["completions", "bash"])).stdout;
    // A real bash sources it and asks it for the words after `mcpctl de`.
    let probe = format!(
        "{script}\nCOMP_WORDS=(mcpctl de); COMP_CWORD=1; _mcpctl mcpctl de mcpctl; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    );
    let output = Command::new("bash")
        .args(["--norc", "-c", &probe])
        .output()
        .expect("bash");
    let words = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in ["dev", "deploy", "destroy"] {
        assert!(
            words.lines().any(|w| w == expected),
            "no `{expected}` in {words}"
        );
    }
}

#[test]
fn an_unknown_shell_is_refused_with_the_choices() {
    let out = run(mcpctl().args(["completions", "tcsh"]));
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("bash") && out.stderr.contains("powershell"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_man_pages_cover_every_command() {
    let page = run(mcpctl().arg("man"));
    assert!(page.status.success(), "{}", page.stderr);
    assert!(
        page.stdout.contains(".TH mcpctl 1"),
        "{}",
        &page.stdout[..200]
    );
    let dir = std::env::temp_dir().join(format!("mcpctl-man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = run(mcpctl().args(["man", "--dir"]).arg(&dir));
    assert!(out.status.success(), "{}", out.stderr);
    for command in COMMANDS {
        let path = dir.join(format!("mcpctl-{command}.1"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            text.contains(&format!(".TH mcpctl-{command} 1")),
            "{}",
            path.display()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
