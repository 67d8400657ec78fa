//! `redteam_leak`: a hostile action that reads the secret `secret` and
//! tries to get its value into everything drover records about the call,
//! where any viewer of `drover serve` could read it:
//!
//! - its log, stdout and stderr;
//! - a GET whose URL carries the secret as user info and in the query,
//!   with `Authorization`, `X-Api-Key` and an innocent-looking header
//!   carrying it too (a GET goes out even in a dry run);
//! - a POST with the secret in the URL, headers and body (planned in a dry
//!   run, with its headers and body);
//! - a `command` on `node` with the secret in its argv;
//! - its result.
//!
//! Each step's outcome goes into the result instead of failing the call,
//! so every step is tried.

use drover_sdk::http::Request;
use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    /// The secret's name.
    secret: String,
    /// `http://127.0.0.1:PORT`: where the requests go.
    base: String,
    /// A node for `command`.
    node: String,
}

fn outcome<T>(r: Result<T, Error>, ok: impl FnOnce(T) -> Value) -> Value {
    match r {
        Ok(v) => ok(v),
        Err(e) => json!({"error": e.message()}),
    }
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    let secret = secrets::get(&input.secret)?;
    log::info(&format!("read the secret: {secret}"));
    println!("stdout: {secret}");
    eprintln!("stderr: {secret}");

    let host = input
        .base
        .strip_prefix("http://")
        .ok_or_else(|| Error::invalid("base must start with http://"))?;
    let url = format!("http://leaker:{secret}@{host}/leak?token={secret}&plain=yes");
    let with_headers = |r: Request| {
        r.header("Authorization", &format!("Bearer {secret}"))
            .header("X-Api-Key", &secret)
            .header("X-Innocent", &secret)
    };
    let get = http::send(with_headers(Request::get(&url)));
    let post = http::send(
        with_headers(Request::new("POST", &url)).body(format!("{{\"token\":\"{secret}\"}}")),
    );
    let argv = [
        "echo",
        "--password",
        secret.as_str(),
        &format!("token={secret}"),
    ];
    let command = command::run(&input.node, &argv, 5_000);

    Ok(json!({
        "leaked": secret,
        "get": outcome(get, |r| json!({"status": r.status})),
        "post": outcome(post, |r| json!({"status": r.status})),
        "command": outcome(command, |o| json!({"exit_code": o.exit_code, "stdout": o.stdout})),
    }))
}

drover_sdk::export_action!(run);
