//! `mlx-validate`: the same code as `mlx validate`.

fn main() -> std::process::ExitCode {
    mlx_cli::stage_main("validate")
}
