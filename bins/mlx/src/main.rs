//! `mlx`: the umbrella binary. All logic lives in `mlx-cli` and `mlx-core`.

fn main() -> std::process::ExitCode {
    mlx_cli::umbrella_main()
}
