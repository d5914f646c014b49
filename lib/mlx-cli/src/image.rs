//! `mlx image`: the command line of `mlx_core::image`.

use std::path::PathBuf;

use clap::Subcommand;
use mlx_core::{Error, ExitStatus};

use crate::{context, output, GlobalArgs, Ui};

#[derive(Debug, Subcommand)]
pub(crate) enum ImageCommand {
    /// An OCI image (layout and a `docker load`/`podman load` archive) holding this mlx,
    /// the libraries it loads, CA certificates, a non-root user, the config and, for
    /// serving, the bundle (docs/deploy.md).
    #[command(after_help = "\
Examples:
  mlx image build                               serve the production version, baked in
  mlx image build --version 3 --tag ghcr.io/acme/churn:v3
  mlx image build --bundle .mlx/runs/forest-1a2b/bundle.tar
  mlx image build --from-registry               serve deploy.model, fetched at start
  mlx image build --stage run                   a training image (mlx run)
  podman load -i .mlx/image/image.tar && podman run --read-only -p 8080:8080 mlx/churn:v3")]
    Build {
        /// The registry version to serve: a number, a stage or an alias.
        #[arg(long, default_value = "production", conflicts_with_all = ["bundle", "stage", "from_registry"])]
        version: String,
        /// Serve this packed bundle instead of a registry version.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["stage", "from_registry"])]
        bundle: Option<PathBuf>,
        /// Bake no bundle: serve the registry's deploy.model, fetched when it starts.
        #[arg(long, conflicts_with = "stage")]
        from_registry: bool,
        /// An image that runs this stage (or `run`, the pipeline) instead of serving.
        #[arg(long, value_name = "NAME")]
        stage: Option<String>,
        /// The name it loads as [default: mlx/<project>:<version or stage>].
        #[arg(long)]
        tag: Option<String>,
        /// Write the OCI layout (oci/) and image.tar here [default: <workdir>/image].
        #[arg(long, short, value_name = "DIR")]
        output: Option<PathBuf>,
        /// The mlx binary to put in [default: this one].
        #[arg(long, value_name = "FILE")]
        binary: Option<PathBuf>,
        /// The CA certificates to put in.
        #[arg(long, value_name = "FILE", default_value = mlx_core::image::CA_FILE)]
        ca_file: PathBuf,
    },
}

/// `mlx image build`.
pub(crate) fn run(
    cmd: ImageCommand,
    stages: &[&dyn mlx_core::Stage],
    global: &GlobalArgs,
    ui: &Ui,
) -> Result<ExitStatus, Error> {
    use mlx_core::image::{Options, Purpose};
    let ImageCommand::Build {
        version,
        bundle,
        from_registry,
        stage,
        tag,
        output,
        binary,
        ca_file,
    } = cmd;
    let ctx = context(global)?;
    let project = mlx_core::export::kubernetes::app_name(
        ctx.config.config.project.name.as_deref().unwrap_or("mlx"),
    );
    let (purpose, default_tag) = match (stage, bundle, from_registry) {
        (Some(s), _, _) => {
            if s != "run" && !stages.iter().any(|st| st.name() == s) {
                return Err(Error::Usage(format!(
                    "--stage `{s}` is not a stage: run, {}",
                    stages
                        .iter()
                        .map(|s| s.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            let tag = format!("mlx/{project}:{s}");
            (Purpose::Stage(s), tag)
        }
        (None, Some(b), _) => (
            Purpose::Serve {
                bundle: Some((b, None)),
            },
            format!("mlx/{project}:bundle"),
        ),
        (None, None, true) => (
            Purpose::Serve { bundle: None },
            format!("mlx/{project}:serve"),
        ),
        (None, None, false) => {
            let (v, path) =
                mlx_core::registry::registry_version(&ctx.config.config, &ctx.workdir, &version)?;
            (
                Purpose::Serve {
                    bundle: Some((path, Some(v.version))),
                },
                format!("mlx/{project}:v{}", v.version),
            )
        }
    };
    let binary = match binary {
        Some(b) => b,
        None => std::env::current_exe().map_err(|e| Error::io("finding this mlx binary", e))?,
    };
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v.trim().parse::<u64>().map_err(|_| {
            Error::Usage(format!(
                "SOURCE_DATE_EPOCH `{v}` is not a number of seconds"
            ))
        })?,
        Err(_) => 0,
    };
    let opts = Options {
        binary,
        purpose,
        tag: tag.unwrap_or(default_tag),
        epoch,
        ca_file,
    };
    let out = output.unwrap_or_else(|| ctx.workdir.join("image"));
    let built = mlx_core::image::build(&ctx.config, &opts, &out)?;
    ui.info(&format!(
        "built {} {}: layer {:.1} MB compressed, {} files; {} ({:.1} MB) and {}",
        opts.tag,
        built.digest,
        built.layer_size as f64 / 1e6,
        built.files.len(),
        built.archive.display(),
        built.archive_size as f64 / 1e6,
        built.layout.display()
    ));
    ui.info(&format!(
        "load it with: podman load -i {} (or docker load -i)",
        built.archive.display()
    ));
    output::stdout(&format!("{}\n", built.digest));
    Ok(ExitStatus::Ok)
}
