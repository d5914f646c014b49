//! `mlx`: the umbrella binary, and every stage's binary when run through a link named
//! `mlx-<stage>` (scripts/install.sh). All logic lives in `mlx-cli` and `mlx-core`.

fn main() -> std::process::ExitCode {
    mlx_cli::multicall_main()
}
