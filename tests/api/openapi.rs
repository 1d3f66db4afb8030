//! `GET /openapi.json`: it lists every route the router serves (and only those, with the right
//! methods), and it is a valid OpenAPI document according to `openapi-spec-validator`.

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{TestApp, expect_status, spawn_app};

/// Served on purpose outside the document: the document itself and the page showing it.
const META_ROUTES: [(&str, &str); 2] = [("GET", "/openapi.json"), ("GET", "/docs")];

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

async fn document(app: &TestApp) -> Value {
    let response = app.anonymous(Method::GET, "/openapi.json").send().await.expect("answered");
    assert!(
        response.headers().get("content-type").is_some_and(|t| t.as_bytes().starts_with(b"application/json")),
        "{response:?}"
    );
    expect_status(response, StatusCode::OK).await
}

/// The operations of the document, as `(METHOD, /path/{param})`.
fn documented(openapi: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in openapi["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if METHODS.contains(&method.to_uppercase().as_str()) {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

/// A concrete path for a template: every `{param}` filled with a plausible value.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|segment| match segment {
            "{id}" => "AS-1",
            "{form}" => "request",
            "{item}" => "Customer%20and%20product%20identified",
            other if other.starts_with('{') => "x",
            other => other,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether the router matched a route for this request (the fallback's 404 says "no route").
async fn served(app: &TestApp, method: &str, path: &str) -> (bool, StatusCode) {
    let method = Method::from_bytes(method.as_bytes()).expect("method");
    let response = app.anonymous(method, path).send().await.expect("answered");
    let status = response.status();
    let body = response.text().await.expect("body");
    let fallback = status == StatusCode::NOT_FOUND && body.contains("no route");
    (!fallback && status != StatusCode::METHOD_NOT_ALLOWED, status)
}

/// The routes the source hands to the router outside the documented handlers: every
/// `.route("PATH", METHOD(` in `src/api/` and its subfolders. Anything served that way must be
/// documented or be one of the [`META_ROUTES`].
fn routes_outside_the_document() -> BTreeSet<(String, String)> {
    let mut folders = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api")];
    let mut files = Vec::new();
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("a folder of src/api") {
            let path = entry.expect("entry").path();
            if path.is_dir() { folders.push(path) } else { files.push(path) }
        }
    }
    let mut found = BTreeSet::new();
    for path in files {
        let source = std::fs::read_to_string(&path).expect("source");
        for (at, _) in source.match_indices(".route(\"") {
            let rest = &source[at + ".route(\"".len()..];
            let (route, rest) = rest.split_once('"').expect("a quoted path");
            let method = rest.trim_start_matches([',', ' ', '\n']).split('(').next().expect("a method router");
            found.insert((method.trim().to_uppercase(), route.to_string()));
        }
        // Whole routers or services mounted by hand serve paths no list here can know.
        for call in [".nest(\"", ".nest_service(\"", ".route_service(\""] {
            for (at, _) in source.match_indices(call) {
                let rest = &source[at + call.len()..];
                let (route, _) = rest.split_once('"').expect("a quoted path");
                found.insert(("ANY".to_string(), route.to_string()));
            }
        }
    }
    found
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_the_router_serves() {
    let app = spawn_app().await;
    let openapi = document(&app).await;
    let operations = documented(&openapi);
    assert!(operations.len() >= 27, "{operations:?}");

    // Every documented operation is served (not the fallback, not 405); the methods a
    // documented path does not list are 405.
    for (method, template) in &operations {
        let path = concrete(template);
        let (is_served, status) = served(&app, method, &path).await;
        assert!(is_served, "{method} {template} is documented but answered {status} as unrouted");
    }
    let paths: BTreeSet<&String> = operations.iter().map(|(_, path)| path).collect();
    for template in paths {
        for method in METHODS {
            if operations.contains(&(method.to_string(), template.clone())) {
                continue;
            }
            let (is_served, status) = served(&app, method, &concrete(template)).await;
            assert!(!is_served, "{method} {template} is served ({status}) but not documented");
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {template}");
        }
    }

    // Routes added to the router by hand are the meta routes only, and are served.
    let by_hand = routes_outside_the_document();
    let meta: BTreeSet<(String, String)> = META_ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    let undocumented: Vec<_> = by_hand.difference(&meta).filter(|route| !operations.contains(route)).collect();
    assert!(undocumented.is_empty(), "served by `.route(...)` but not in /openapi.json: {undocumented:?}");
    for (method, path) in META_ROUTES {
        let (is_served, status) = served(&app, method, path).await;
        assert!(is_served && status == StatusCode::OK, "{method} {path}: {status}");
    }

    // The operations a user relies on are all there.
    for expected in [
        ("POST", "/v1/tickets"),
        ("GET", "/v1/tickets"),
        ("GET", "/v1/tickets/{id}"),
        ("GET", "/v1/tickets/{id}/events"),
        ("POST", "/v1/tickets/{id}/transitions"),
        ("PUT", "/v1/tickets/{id}/forms/{form}"),
        ("POST", "/v1/tickets/{id}/checklist/{item}"),
        ("POST", "/v1/tickets/{id}/comments"),
        ("POST", "/v1/tickets/{id}/steps"),
        ("POST", "/v1/tickets/{id}/assign"),
        ("POST", "/v1/tickets/{id}/priority"),
        ("POST", "/v1/tickets/{id}/approvals"),
        ("POST", "/v1/tickets/{id}/resolve"),
        ("POST", "/v1/tickets/{id}/close"),
        ("POST", "/v1/tickets/{id}/reopen"),
        ("POST", "/v1/tickets/{id}/links"),
        ("POST", "/v1/tickets/{id}/merge"),
        ("POST", "/v1/customers"),
        ("GET", "/v1/customers"),
        ("GET", "/v1/customers/{id}"),
        ("GET", "/v1/customers/{id}/events"),
        ("GET", "/v1/workflows"),
        ("GET", "/v1/workflows/{id}"),
        ("GET", "/v1/workflows/{id}/diagram"),
        ("POST", "/v1/workflows/reload"),
        ("GET", "/v1/me"),
        ("POST", "/v1/tokens"),
        ("GET", "/v1/tokens"),
        ("DELETE", "/v1/tokens/{id}"),
        ("GET", "/healthz"),
        ("GET", "/metrics"),
        ("GET", "/v1/outbox"),
        ("POST", "/v1/outbox/{id}/retry"),
        ("GET", "/v1/webhooks/{workflow}/{name}/deliveries"),
        ("GET", "/survey/{token}"),
        ("POST", "/survey/{token}"),
    ] {
        assert!(operations.contains(&(expected.0.to_string(), expected.1.to_string())), "{expected:?} documented");
    }
    // Protected operations say so; the bearer scheme is declared.
    assert_eq!(openapi["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    for (method, path) in &operations {
        let operation = &openapi["paths"][path][method.to_lowercase()];
        // The survey page is for customers: its signed token is the credential.
        let public = ["/healthz", "/metrics", "/survey/{token}"].contains(&path.as_str());
        assert_eq!(operation.get("security").is_none(), public, "{method} {path} security");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_document_is_valid_openapi() {
    let app = spawn_app().await;
    let openapi = document(&app).await;
    assert!(openapi["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", openapi["openapi"]);
    assert_eq!(openapi["info"]["title"], "Afterdesk API");
    let file = app.root.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&openapi).expect("JSON")).expect("save the document");

    let output = crate::python::python()
        .command()
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the validator ({e})"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "openapi-spec-validator rejects /openapi.json:\n{stdout}\n{stderr}");
    assert!(stdout.contains("OK"), "the validator says OK: {stdout}");
    app.stop().await;
}
