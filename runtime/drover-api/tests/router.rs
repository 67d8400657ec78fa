//! The API router in process (`tower::ServiceExt::oneshot`, no socket):
//! who may reach what, and the shape of every refusal. Flows through the
//! real binary are in the top-level `tests/` (see tests/README.md).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use drover_engine::{Pipeline, PipelineConfig};
use drover_store::{Role, Store};
use serde_json::Value;
use tower::ServiceExt;

/// A router over a fresh database, and a token per role.
struct Api {
    _dir: tempfile::TempDir,
    router: Router,
    viewer: String,
    operator: String,
    admin: String,
    pipeline: Option<Pipeline>,
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(p) = self.pipeline.take() {
            p.shutdown(std::time::Duration::from_secs(1));
        }
    }
}

fn api() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("drover.db")).unwrap();
    let app =
        Arc::new(drover_app::App::with_defaults(store.clone(), &dir.path().join("cache")).unwrap());
    let pipeline = Pipeline::start(
        app.clone(),
        PipelineConfig {
            workers: 1,
            ..PipelineConfig::default()
        },
    )
    .unwrap();
    let token = |role| {
        drover_app::access::create_token(&store, &format!("{role}-token"), role, "test")
            .unwrap()
            .1
    };
    let (viewer, operator, admin) = (
        token(Role::Viewer),
        token(Role::Operator),
        token(Role::Admin),
    );
    let router = drover_api::router(drover_api::AppState {
        app,
        intake: pipeline.intake(),
        metrics: pipeline.metrics(),
        config: Arc::new(drover_api::ApiConfig::default()),
        events: drover_api::stream::Events::default(),
    });
    Api {
        _dir: dir,
        router,
        viewer,
        operator,
        admin,
        pipeline: Some(pipeline),
    }
}

/// One request: status, headers and the body (JSON when it parses).
async fn call(
    api: &Api,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let resp = api.router.clone().oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (parts.status, parts.headers, value)
}

async fn get(api: &Api, uri: &str, token: &str) -> (StatusCode, HeaderMap, Value) {
    call(api, Method::GET, uri, Some(token), None).await
}

fn error_of(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no JSON error: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_anonymous_get_401_with_a_json_error_and_learn_nothing() {
    let api = api();
    for (method, uri) in [
        (Method::GET, "/api/v1/executions"),
        (Method::GET, "/api/v1/grants"),
        (Method::GET, "/api/v1/openapi.json"),
        (Method::POST, "/api/v1/fleet/pause"),
        // Unknown paths too: a 404 would tell which ones exist.
        (Method::GET, "/api/v1/no-such-thing"),
    ] {
        let (status, headers, body) = call(&api, method.clone(), uri, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri}: {body}");
        assert!(!error_of(&body).is_empty());
        assert!(
            headers
                .get("www-authenticate")
                .is_some_and(|v| v.to_str().unwrap().starts_with("Bearer")),
            "{method} {uri}: {headers:?}"
        );
    }
    let (status, _, body) = call(&api, Method::GET, "/api/v1/executions", Some("nope"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a bad token: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_reaches_what_it_may_and_is_told_what_it_lacks() {
    let api = api();
    let (status, _, body) = get(&api, "/api/v1/executions", &api.viewer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["items"].is_array(), "{body}");

    // A viewer may not act: 403 naming the role it needs and how to get it.
    let (status, _, body) = call(
        &api,
        Method::POST,
        "/api/v1/fleet/pause",
        Some(&api.viewer),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let error = error_of(&body);
    assert!(
        error.contains("needs the operator role") && error.contains("drover token create"),
        "{error}"
    );

    // Tokens are the admin's.
    let (status, _, body) = get(&api, "/api/v1/tokens", &api.operator).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(error_of(&body).contains("needs the admin role"), "{body}");
    let (status, _, body) = get(&api, "/api/v1/tokens", &api.admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Known to the authenticated: an unknown path is a JSON 404.
    let (status, _, body) = get(&api, "/api/v1/no-such-thing", &api.viewer).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(error_of(&body).contains("openapi.json"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_name_the_field_and_change_nothing() {
    let api = api();
    let (status, _, body) = call(
        &api,
        Method::POST,
        "/api/v1/executions",
        Some(&api.operator),
        Some(serde_json::json!({"action": "not a reference"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(!error_of(&body).is_empty());
    let (status, _, body) = get(&api, "/api/v1/executions?limit=5000", &api.viewer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_of(&body).contains("1 to 1000"), "{body}");
    let (_, _, body) = get(&api, "/api/v1/executions", &api.viewer).await;
    assert_eq!(body["items"], serde_json::json!([]), "nothing was started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers() {
    let api = api();
    for (uri, token) in [
        ("/healthz", None),
        ("/api/v1/executions", None),
        ("/api/v1/executions", Some(api.viewer.as_str())),
        ("/login", None),
    ] {
        let (_, headers, _) = call(&api, Method::GET, uri, token, None).await;
        for (name, value) in [
            ("x-frame-options", "DENY"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "same-origin"),
        ] {
            assert_eq!(
                headers.get(name).map(|v| v.to_str().unwrap()),
                Some(value),
                "{uri}: {name}"
            );
        }
        assert!(headers.contains_key("content-security-policy"), "{uri}");
    }
}

/// `/api/v1/policies`, `/api/v1/retention` and `/api/v1/gc` (what `drover
/// policy|retention|gc --server` call): credentials before the body is
/// read, viewers read, only admins change, and a refused change names its
/// problem and stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_retention_and_gc_are_the_admins_and_refusals_store_nothing() {
    use serde_json::json;
    let api = api();
    let keep = json!({"max_age_ms": 1000});
    let policy = json!({"definition": "name: one\nresource_ref: core.sleep\n\
        policy_type: action.concurrency\nparameters:\n  threshold: 1\n"});
    let changes = [
        (Method::PUT, "/api/v1/retention/audit", Some(keep.clone())),
        (Method::DELETE, "/api/v1/retention/audit", None),
        (Method::POST, "/api/v1/policies", Some(policy.clone())),
        (Method::DELETE, "/api/v1/policies/one", None),
        (Method::GET, "/api/v1/gc", None),
        (Method::POST, "/api/v1/gc", None),
    ];
    let reads = ["/api/v1/retention", "/api/v1/policies"];

    // Anonymous: 401, even with a body far over any limit (not read).
    let huge = json!({"definition": "x".repeat(3 << 20)});
    for (method, uri, _) in &changes {
        let (status, _, body) = call(&api, method.clone(), uri, None, Some(huge.clone())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri}: {body}");
    }
    for uri in reads {
        let (status, _, body) = call(&api, Method::GET, uri, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}: {body}");
        let (status, _, body) = get(&api, uri, &api.viewer).await;
        assert_eq!(status, StatusCode::OK, "a viewer reads {uri}: {body}");
        assert!(body.is_array(), "{body}");
    }
    // Viewers and operators: 403 naming the admin role.
    for token in [&api.viewer, &api.operator] {
        for (method, uri, body) in &changes {
            let (status, _, answer) =
                call(&api, method.clone(), uri, Some(token), body.clone()).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {uri}: {answer}");
            assert!(
                error_of(&answer).contains("needs the admin role"),
                "{answer}"
            );
        }
    }
    let (_, _, settings) = get(&api, "/api/v1/retention", &api.viewer).await;

    // An admin's bad requests: 400 naming the problem, nothing stored.
    let admin = Some(api.admin.as_str());
    for (body, expected) in [
        (
            json!({"definition": "name: [unclosed"}),
            "policy", // the default source, with the YAML's place
        ),
        (
            json!({"definition": format!("name: big\n#{}", "x".repeat(1 << 20))}),
            "at most 1048576",
        ),
        (policy.clone(), "core.sleep is not an installed action"),
        (
            json!({"definition": "name: x", "source": "a\u{1b}[2Jb"}),
            "printable",
        ),
        (json!({"definition": "name: x", "extra": 1}), "extra"),
    ] {
        let (status, _, answer) =
            call(&api, Method::POST, "/api/v1/policies", admin, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(error_of(&answer).contains(expected), "{expected}: {answer}");
    }
    let (_, _, listed) = get(&api, "/api/v1/policies", &api.viewer).await;
    assert_eq!(listed, json!([]), "no policy stored");
    let (status, _, answer) = call(&api, Method::DELETE, "/api/v1/policies/one", admin, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert!(error_of(&answer).contains("no operator policy"), "{answer}");

    for (uri, body, expected) in [
        (
            "/api/v1/retention/logs",
            json!({"max_age_ms": 1000}),
            "no kind of history",
        ),
        (
            "/api/v1/retention/audit",
            json!({}),
            "say how long to keep audit",
        ),
        (
            "/api/v1/retention/audit",
            json!({"max_count": 0}),
            "at least 1",
        ),
        (
            "/api/v1/retention/audit",
            json!({"max_age_ms": -5}),
            "at least 1",
        ),
        (
            "/api/v1/retention/audit",
            json!({"max_count": 5, "forever": true}),
            "--forever",
        ),
    ] {
        let (status, _, answer) = call(&api, Method::PUT, uri, admin, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {answer}");
        assert!(error_of(&answer).contains(expected), "{expected}: {answer}");
    }
    let (_, _, after) = get(&api, "/api/v1/retention", &api.viewer).await;
    assert_eq!(after, settings, "no retention changed");

    // And what an admin may do.
    let (status, _, set) = call(
        &api,
        Method::PUT,
        "/api/v1/retention/audit",
        admin,
        Some(json!({"max_count": 10})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["max_count"], 10);
    assert!(
        set["set_by"]
            .as_str()
            .unwrap()
            .starts_with("token:admin-token("),
        "{set}"
    );
    let (status, _, preview) = get(&api, "/api/v1/gc", &api.admin).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert!(preview["kinds"].is_array(), "{preview}");
    let (status, _, report) = call(&api, Method::POST, "/api/v1/gc", admin, None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert!(report["size_bytes"].as_u64().unwrap() > 0, "{report}");
}

/// The fleet's queue, cancel and maintenance windows: the anonymous get
/// 401, a viewer reads but may not change (403 naming the operator
/// role), and bad input is a 4xx naming what is wrong, never a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_queue_cancel_and_windows_keep_their_roles() {
    let api = api();
    let window =
        serde_json::json!({"days": ["mon"], "start": "22:00", "end": "04:00", "tz": "UTC"});
    let reason = serde_json::json!({"reason": "wrong node"});
    for (method, uri, body) in [
        (Method::GET, "/api/v1/fleet/requests", None),
        (
            Method::POST,
            "/api/v1/fleet/requests/01X/cancel",
            Some(reason.clone()),
        ),
        (Method::GET, "/api/v1/fleet/windows", None),
        (
            Method::PUT,
            "/api/v1/fleet/windows/nights",
            Some(window.clone()),
        ),
        (Method::DELETE, "/api/v1/fleet/windows/nights", None),
    ] {
        let (status, _, b) = call(&api, method.clone(), uri, None, body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri}: {b}");
        if method != Method::GET {
            let (status, _, b) = call(&api, method.clone(), uri, Some(&api.viewer), body).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {uri}: {b}");
            assert!(error_of(&b).contains("needs the operator role"), "{b}");
        }
    }
    let (status, _, body) = get(&api, "/api/v1/fleet/windows", &api.viewer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, serde_json::json!([]), "the viewer changed nothing");

    // An operator: a window, listed with whether it is open and its nodes.
    let (status, _, body) = call(
        &api,
        Method::PUT,
        "/api/v1/fleet/windows/nights",
        Some(&api.operator),
        Some(window),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "nights", "{body}");
    assert_eq!(body["nodes"], 1000, "{body}");
    assert!(body["open_now"].is_boolean(), "{body}");
    for (bad, field) in [
        (
            serde_json::json!({"start": "25:00", "end": "04:00"}),
            "25:00",
        ),
        (
            serde_json::json!({"start": "late", "end": "04:00"}),
            "HH:MM",
        ),
        (
            serde_json::json!({"start": "22:00", "end": "04:00", "tz": "Mars/Olympus"}),
            "IANA",
        ),
        (
            serde_json::json!({"start": "22:00", "end": "04:00", "days": ["someday"]}),
            "someday",
        ),
    ] {
        let (status, _, body) = call(
            &api,
            Method::PUT,
            "/api/v1/fleet/windows/odd",
            Some(&api.operator),
            Some(bad),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(error_of(&body).contains(field), "{field}: {body}");
    }
    let (status, _, body) = call(
        &api,
        Method::DELETE,
        "/api/v1/fleet/windows/nope",
        Some(&api.operator),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(error_of(&body).contains("nope"), "{body}");
    let (status, _, _) = call(
        &api,
        Method::DELETE,
        "/api/v1/fleet/windows/nights",
        Some(&api.operator),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let budget = serde_json::json!({"strategy": "groupsemaphore", "label": "rack", "max": 1});
    let (status, _, body) = call(
        &api,
        Method::PUT,
        "/api/v1/budgets/rack-one",
        Some(&api.admin),
        Some(budget),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A request to cancel: queued behind n001 in its rack.
    for (node, path) in [("n001", "drain"), ("n002", "drain")] {
        let (status, _, body) = call(
            &api,
            Method::POST,
            &format!("/api/v1/nodes/{node}/{path}"),
            Some(&api.operator),
            Some(serde_json::json!({"reason": "disk"})),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let (status, _, queue) = get(&api, "/api/v1/fleet/requests", &api.viewer).await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let queue = queue.as_array().unwrap().clone();
    assert_eq!(queue.len(), 2, "{queue:?}");
    // Oldest first, but two requests of one millisecond sort by id.
    let of = |node: &str| queue.iter().find(|q| q["node"] == node).unwrap().clone();
    assert_eq!(of("n001")["cancel"], "give_back", "{queue:?}");
    assert_eq!(of("n002")["gate"], "budget", "{queue:?}");
    let (_, _, budgets) = get(&api, "/api/v1/budgets", &api.viewer).await;
    assert_eq!(budgets[0]["groups"][0]["group"], "rack=r01", "{budgets}");
    assert_eq!(budgets[0]["holders"][0]["node"], "n001", "{budgets}");

    let id = of("n002")["id"].as_str().unwrap().to_owned();
    let cancel = format!("/api/v1/fleet/requests/{id}/cancel");
    let (status, _, body) = call(
        &api,
        Method::POST,
        &cancel,
        Some(&api.operator),
        Some(serde_json::json!({"reason": " "})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_of(&body).contains("reason"), "{body}");
    let (status, _, body) = call(
        &api,
        Method::POST,
        "/api/v1/fleet/requests/01NOSUCH/cancel",
        Some(&api.operator),
        Some(reason.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(error_of(&body).contains("01NOSUCH"), "{body}");
    let (status, _, body) = call(
        &api,
        Method::POST,
        &cancel,
        Some(&api.operator),
        Some(reason.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["node"], "n002", "{body}");
    assert_eq!(body["was"], "queued", "{body}");
    let (status, _, body) = call(
        &api,
        Method::POST,
        &cancel,
        Some(&api.operator),
        Some(reason),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(error_of(&body).contains("already ended"), "{body}");
}
