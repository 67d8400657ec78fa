//! `core.http`: sends one HTTP request through the host and returns
//! `{"status", "headers", "body"}` (body as lossy UTF-8 text). Any status
//! is a success; only a request that could not be sent fails.

use std::collections::BTreeMap;

use drover_sdk::http::Request;
use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    url: String,
    #[serde(default = "default_method")]
    method: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
}

fn default_method() -> String {
    "GET".to_owned()
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    let mut request = Request::new(&input.method, &input.url);
    for (name, value) in &input.headers {
        request = request.header(name, value);
    }
    if let Some(body) = input.body {
        request = request.body(body);
    }
    let response = http::send(request)?;
    // Repeated response headers are joined with ", " (RFC 9110 §5.3).
    let mut headers = BTreeMap::<String, String>::new();
    for (name, value) in &response.headers {
        headers
            .entry(name.to_ascii_lowercase())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(value);
            })
            .or_insert_with(|| value.clone());
    }
    Ok(json!({
        "status": response.status,
        "headers": headers,
        "body": response.text(),
    }))
}

drover_sdk::export_action!(run);
