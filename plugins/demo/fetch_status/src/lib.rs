//! `demo.fetch_status`: GETs `url` and returns `{"url", "status", "body"}`,
//! the body as JSON when it parses, else as text.

use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    url: String,
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    let response = http::get(&input.url)?;
    let body = response
        .json::<Value>()
        .unwrap_or_else(|_| Value::String(response.text().into_owned()));
    Ok(json!({
        "url": input.url,
        "status": response.status,
        "body": body,
    }))
}

drover_sdk::export_action!(run);
