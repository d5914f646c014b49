//! `mlx-serve`: the same code as `mlx serve`.

fn main() -> std::process::ExitCode {
    mlx_cli::stage_main("serve")
}
