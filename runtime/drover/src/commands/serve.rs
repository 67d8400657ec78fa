//! `drover serve`: the pipeline (rules stage, scheduler, workers) and the
//! HTTP server in one process, stopped gracefully by SIGTERM or Ctrl-C:
//! intake stops first, then running executions get `--grace` to finish.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use drover_core::Stop;
use drover_engine::{Pipeline, PipelineConfig};

use crate::cli::ServeArgs;

/// How long open HTTP requests may take to finish after a stop signal.
const HTTP_DRAIN: std::time::Duration = std::time::Duration::from_secs(5);
/// Time between fleet controller ticks.
const FLEET_TICK: std::time::Duration = std::time::Duration::from_secs(1);
use crate::context::open_app;

pub fn run(db: &Path, args: ServeArgs) -> Result<ExitCode> {
    check_listen(&args)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            drover_api::tls::load_config(cert, key)
                .context("cannot set up TLS (--tls-cert/--tls-key)")?,
        ),
        _ => None,
    };
    // Before anything is opened: a second serve on this file stops here.
    let _serving = crate::context::lock_for_serving(db, "drover serve")?;
    let app = Arc::new(open_app(db)?);
    if let Some(password) = drover_api::auth::bootstrap_admin(app.store())
        .context("cannot create the first admin user")?
    {
        eprintln!(
            "drover: first start: created user {:?} (role admin) with password {password}\n\
             drover: it is shown only this once; `drover user reset-password {}` sets a new one",
            drover_api::auth::FIRST_ADMIN,
            drover_api::auth::FIRST_ADMIN
        );
    }
    let store = app.store().clone();
    // The stop tree: the HTTP server, the pipeline and the fleet controller
    // each hang on a child of `root`, stopped in that order below.
    let root = Stop::new();
    let http_stop = root.child();
    let fleet_stop = root.child();
    let pipeline = Pipeline::start(
        app.clone(),
        PipelineConfig {
            workers: args.workers,
            nats_url: args.nats.clone(),
            max_intake_in_flight: args.max_in_flight as usize,
            gc_every: args.gc_every.0,
            stop: root.clone(),
            ..PipelineConfig::default()
        },
    )
    .context("cannot load the installed packs and rules")?;
    // The fleet controller moves requested nodes through their lifecycle.
    let fleet = drover_fleet::Controller::standard(app.store().clone())
        .spawn(FLEET_TICK, fleet_stop.clone())
        .context("cannot start the fleet controller thread")?;
    let events = drover_api::stream::Events::default();
    let api = drover_api::AppState {
        app: app.clone(),
        intake: pipeline.intake(),
        metrics: pipeline.metrics(),
        config: Arc::new(drover_api::ApiConfig {
            metrics_auth: args.metrics_auth,
            secure_cookies: tls.is_some(),
            db: Some(db.to_path_buf()),
        }),
        events: events.clone(),
    };
    let web = drover_web::WebState::new(api.clone()).context("cannot load the web UI")?;
    let app = drover_api::router(api).merge(drover_web::router(web));
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let catalog = pipeline.catalog();
    tokio.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        tokio::spawn(events.tail(store));
        let rules = catalog.rules().len();
        let triggers = catalog.trigger_refs().join(", ");
        println!(
            "drover serving on {}://{} (web UI at /ui/; {rules} rules; trigger types: {})",
            if tls.is_some() { "https" } else { "http" },
            listener.local_addr()?,
            if triggers.is_empty() {
                "none"
            } else {
                &triggers
            }
        );
        // Graceful shutdown waits for open connections, and a client that
        // stalls mid-request would hold it forever: give them HTTP_DRAIN.
        let signalled = http_stop.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            http_stop.stop();
        });
        let stop = {
            let signalled = signalled.clone();
            async move { signalled.stopped().await }
        };
        let limits = drover_api::server::Limits {
            max_connections: args.max_connections as usize,
            header_timeout: args.header_timeout,
            body_timeout: args.body_timeout,
        };
        let server = drover_api::server::serve(listener, tls, app, limits, stop);
        tokio::select! {
            () = server => Ok::<(), anyhow::Error>(()),
            () = async {
                signalled.stopped().await;
                tokio::time::sleep(HTTP_DRAIN).await;
            } => {
                eprintln!("drover: requests still open {HTTP_DRAIN:?} after the stop signal; closing them");
                Ok(())
            }
        }
    })?;
    eprintln!(
        "drover: stopping; waiting up to {:?} for running executions",
        args.grace
    );
    pipeline.shutdown(args.grace);
    fleet_stop.stop();
    let _ = fleet.join();
    root.stop();
    // Connection tasks of stalled clients must not hold up the exit.
    tokio.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(ExitCode::SUCCESS)
}

/// Beyond loopback, tokens, passwords and cookies would cross the network:
/// that needs TLS, or the operator saying they know (`--insecure-listen`).
fn check_listen(args: &ServeArgs) -> Result<()> {
    if args.listen.ip().is_loopback() || args.tls_cert.is_some() || args.insecure_listen {
        return Ok(());
    }
    anyhow::bail!(
        "refusing to listen on {} without TLS: API tokens, passwords and session cookies would \
         cross the network in clear text; pass --tls-cert FILE --tls-key FILE, or \
         --insecure-listen if a proxy in front terminates TLS",
        args.listen
    )
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
