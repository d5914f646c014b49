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
  mlx image build --tag ghcr.io/acme/churn:v3 --push   build, push, record the digest
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
        /// Push it to the registry its --tag names, as `mlx image push` does.
        #[arg(long)]
        push: bool,
        #[command(flatten)]
        transport: Transport,
    },
    /// Push an image built by `mlx image build` to an OCI registry (the distribution
    /// API); for an image of a registry version, record its digest in the registry.
    /// Credentials: MLX_REGISTRY_USERNAME and MLX_REGISTRY_PASSWORD, MLX_REGISTRY_TOKEN,
    /// or the login of `podman login` / `docker login` (docs/deploy.md).
    #[command(after_help = "\
Examples:
  mlx image push ghcr.io/acme/churn:v3
  mlx image push registry.acme.io/ml/churn:v3   with MLX_REGISTRY_USERNAME, _PASSWORD set
  mlx image push --layout build/oci 127.0.0.1:5000/churn:v3 --plain-http")]
    Push {
        /// Where to: REGISTRY/REPOSITORY:TAG [default: the tag the image was built as].
        reference: Option<String>,
        /// The OCI image layout to push [default: <workdir>/image/oci].
        #[arg(long, value_name = "DIR")]
        layout: Option<PathBuf>,
        #[command(flatten)]
        transport: Transport,
    },
}

/// How the registry is reached.
#[derive(Debug, Clone, Copy, clap::Args)]
pub(crate) struct Transport {
    /// Speak HTTP, not HTTPS: for a registry on loopback (sends no credentials to any
    /// other host).
    #[arg(long)]
    plain_http: bool,
}

/// `mlx image build` and `mlx image push`.
pub(crate) fn run(
    cmd: ImageCommand,
    stages: &[&dyn mlx_core::Stage],
    global: &GlobalArgs,
    ui: &Ui,
) -> Result<ExitStatus, Error> {
    match cmd {
        ImageCommand::Push {
            reference,
            layout,
            transport,
        } => push_layout(reference, layout, &transport, global, ui),
        build @ ImageCommand::Build { .. } => build_image(build, stages, global, ui),
    }
}

/// `mlx image build [--push]`.
fn build_image(
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
        push,
        transport,
    } = cmd
    else {
        unreachable!("called for build only")
    };
    if transport.plain_http && !push {
        return Err(Error::Usage(
            "--plain-http applies to a push: add --push, or leave it out".into(),
        ));
    }
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
                    bundle: Some((path, Some((v.model.clone(), v.version)))),
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
    if push {
        return push_layout(Some(opts.tag), Some(built.layout), &transport, global, ui);
    }
    ui.info(&format!(
        "load it with: podman load -i {} (or docker load -i)",
        built.archive.display()
    ));
    output::stdout(&format!("{}\n", built.digest));
    Ok(ExitStatus::Ok)
}

/// `mlx image push`: the layout to the registry; the push recorded on the registry
/// version the image serves. Prints `REPOSITORY@DIGEST`.
fn push_layout(
    reference: Option<String>,
    layout: Option<PathBuf>,
    transport: &Transport,
    global: &GlobalArgs,
    ui: &Ui,
) -> Result<ExitStatus, Error> {
    use mlx_core::image::push;
    let layout =
        layout.unwrap_or_else(|| mlx_core::Workdir::new(&global.workdir).join("image/oci"));
    let reference = match reference {
        Some(r) => r,
        None => mlx_core::image::built_as(&layout)?,
    };
    let to = push::Reference::parse(&reference)?;
    let creds = push::Credentials::lookup(&|k| std::env::var(k).ok(), &to.registry)?;
    let opts = push::PushOptions {
        plain_http: transport.plain_http,
    };
    let pushed = push::push(&layout, &to, &creds, &opts)?;
    ui.info(&format!(
        "pushed {to} {}: {} blob(s) sent ({:.1} MB), {} already there",
        pushed.digest,
        pushed.uploaded,
        pushed.bytes as f64 / 1e6,
        pushed.present
    ));
    if let Some((model, version)) = mlx_core::image::built_from(&layout)? {
        let ctx = context(global)?;
        if mlx_core::image::record_push(&ctx.config.config, &model, version, &pushed)? {
            ui.info(&format!(
                "recorded in the registry: version {version} of `{model}` is {}",
                pushed.by_digest()
            ));
        } else {
            ui.info(&format!(
                "warning: not recorded: the image serves `{model}`, which is not this config's registry model"
            ));
        }
    }
    ui.outputs(
        &[("image".to_owned(), pushed.by_digest())]
            .into_iter()
            .collect(),
    );
    output::stdout(&format!("{}\n", pushed.by_digest()));
    Ok(ExitStatus::Ok)
}
