//! `drover serve`: the pipeline (rules stage, scheduler, workers) and the
//! HTTP server in one process, stopped gracefully by SIGTERM or Ctrl-C:
//! intake stops first, then running executions get `--grace` to finish.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use drover_engine::{Pipeline, PipelineConfig};

use crate::cli::ServeArgs;
use crate::context::open_runtime;

pub fn run(db: &Path, args: ServeArgs) -> Result<ExitCode> {
    let runtime = Arc::new(open_runtime(db)?);
    let store = runtime.store().clone();
    let pipeline = Pipeline::start(
        runtime,
        PipelineConfig {
            workers: args.workers,
            ..PipelineConfig::default()
        },
    )
    .context("cannot load the installed packs and rules")?;
    let app = drover_api::router(drover_api::AppState {
        store,
        intake: pipeline.intake(),
        metrics: pipeline.metrics(),
    });
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let catalog = pipeline.catalog();
    tokio.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let rules = catalog.rules().len();
        let triggers = catalog.trigger_refs().join(", ");
        println!(
            "drover serving on http://{} ({rules} rules; trigger types: {})",
            listener.local_addr()?,
            if triggers.is_empty() {
                "none"
            } else {
                &triggers
            }
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("the HTTP server failed")
    })?;
    eprintln!(
        "drover: stopping; waiting up to {:?} for running executions",
        args.grace
    );
    pipeline.shutdown(args.grace);
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
