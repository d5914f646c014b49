//! What every integration test of the workspace starts from: the workspace root, and a
//! command for one of its binaries whose environment holds only what the test sets.

use std::path::{Path, PathBuf};

/// The workspace root (where `Cargo.toml`, `tests/` and `config/` are).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether a variable of the test's own environment is one that a developer's shell or
/// a CI runner sets and that would change what a binary does: every `GITHUB_*` and every
/// `MLX_*` but the test services' addresses (`MLX_TEST_*`, set by `tests/run.sh`).
fn scrubbed(name: &str) -> bool {
    name.starts_with("GITHUB_") || (name.starts_with("MLX_") && !name.starts_with("MLX_TEST_"))
}

/// One of the workspace's binaries (`mlx`, `mlx-train`, ...) as a plain command, its
/// environment scrubbed ([`scrubbed`]): for tests that spawn a server or wire pipes.
pub fn std_command(bin: &str) -> std::process::Command {
    program(&assert_cmd::cargo::cargo_bin(bin))
}

/// Any program (a link to a binary, say) as a command, its environment scrubbed.
pub fn program(path: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(path);
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(scrubbed) {
            c.env_remove(k);
        }
    }
    c
}

/// [`std_command`] as an `assert_cmd` command.
pub fn command(bin: &str) -> assert_cmd::Command {
    assert_cmd::Command::from_std(std_command(bin))
}

/// [`command`] run in `dir`.
pub fn command_in(dir: &Path, bin: &str) -> assert_cmd::Command {
    let mut c = command(bin);
    c.current_dir(dir);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_a_binary_gets_is_scrubbed_but_for_the_test_services() {
        assert!(scrubbed("GITHUB_ACTIONS") && scrubbed("MLX_CONFIG") && scrubbed("MLX_WORKDIR"));
        assert!(!scrubbed("MLX_TEST_S3_ENDPOINT") && !scrubbed("PATH") && !scrubbed("HOME"));
        assert!(root().join("Cargo.toml").exists());
    }
}
