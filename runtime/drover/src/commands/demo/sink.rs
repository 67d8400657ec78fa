//! The demo's stand-in for an alert manager and a ticket system: an HTTP
//! endpoint on 127.0.0.1:8331 (where `handle_no_contact` sends alarms and
//! tickets by default) that prints what it receives and answers 201.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;

/// The batchops workflow's default `alarm_url` and `ticket_url` host.
pub const ADDR: &str = "127.0.0.1:8331";

/// Serves the sink on a thread of its own. A taken port is reported and
/// the demo goes on: alarms then fail visibly, in the workflows.
pub fn start(addr: &'static str) {
    let listener = match std::net::TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("demo: cannot listen on {addr} for alarms and tickets ({e}); they will fail");
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("demo-sink".into())
        .spawn(move || {
            let served = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| {
                    rt.block_on(async {
                        listener.set_nonblocking(true)?;
                        let listener = tokio::net::TcpListener::from_std(listener)?;
                        let app = axum::Router::new().route("/{kind}", post(receive));
                        axum::serve(listener, app).await?;
                        Ok(())
                    })
                });
            if let Err(e) = served {
                eprintln!("demo: the alarm and ticket sink stopped: {e:#}");
            }
        });
    if let Err(e) = spawned {
        eprintln!("demo: cannot start the alarm and ticket sink: {e}");
    }
}

async fn receive(Path(kind): Path<String>, Json(event): Json<Value>) -> StatusCode {
    let text = |k: &str| event[k].as_str().unwrap_or("?").to_owned();
    println!(
        "sink: {} for {}: {}",
        kind.to_uppercase(),
        text("node"),
        text("summary")
    );
    StatusCode::CREATED
}
