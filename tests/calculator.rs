//! The calculator page's JSON endpoint (`server::ui::estimate_json`) against `vramgate
//! estimate --output json` (the real binary) for the same fields, its errors, and the page's
//! assets: nothing loaded from another origin. The browser test is tests/ui/ (make ui-test).

use crate::common::{vramgate, vramgate_json};
use vramgate::estimate::catalog::GpuCatalog;
use vramgate::server::ui::{estimate_json, options_json};

#[test]
fn the_endpoint_answers_what_the_cli_prints_for_the_same_fields() {
    let body = br#"{"fields": {"model": "llama-2-13b", "precision": "fp32", "gpu": "A100-80GB", "gpus": "8", "training-tokens": "2T"}}"#;
    let (status, v) = estimate_json(body, &GpuCatalog::builtin());
    assert_eq!(status, 200, "{v}");
    let (code, from_cli, _) = vramgate_json(&[
        "estimate",
        "--model",
        "llama-2-13b",
        "--precision",
        "fp32",
        "--gpu",
        "A100-80GB",
        "--gpus",
        "8",
        "--training-tokens",
        "2T",
    ]);
    assert_eq!(code, 1, "does not fit");
    // Both through JSON text: serde_json's default float parsing may differ from the printed
    // value in the last digit, the same way for both.
    let from_endpoint: serde_json::Value = serde_json::from_str(&v["report"].to_string()).unwrap();
    assert_eq!(from_endpoint, from_cli);
    assert_eq!(
        v["annotations_yaml"],
        "metadata:\n  annotations:\n    vramgate.io/gpu: \"A100-80GB\"\n    vramgate.io/gpus: \"8\"\n    \
         vramgate.io/model: \"llama-2-13b\"\n    vramgate.io/precision: \"fp32\"\n    vramgate.io/training-tokens: \"2T\"\n"
    );
}

#[test]
fn a_bad_field_is_a_400_naming_it_as_the_cli_does() {
    let (status, v) =
        estimate_json(br#"{"fields": {"model": "llama-2-7b", "precision": "fp64"}}"#, &GpuCatalog::builtin());
    assert_eq!(status, 400);
    assert_eq!(v["problems"][0]["field"], "precision");
    let (code, _, err) = vramgate(&["estimate", "--model", "llama-2-7b", "--precision", "fp64"]);
    assert_eq!(code, 2);
    let message = v["problems"][0]["message"].as_str().unwrap();
    assert!(err.contains(&format!("error: --precision: {message}")), "{err} / {message}");
    for (body, field) in [
        (&br#"{"fields": {"modle": "x"}}"#[..], "modle"),
        (br#"{"fields": {"model": "llama-2-7b", "gpu": "V99"}}"#, "gpu"),
        (br#"{"fields": {"model": "llama-2-7b"}, "plan_gpus": "some"}"#, "plan_gpus"),
        (br#"{"feilds": {}}"#, "body"),
        (b"not json", "body"),
    ] {
        let (status, v) = estimate_json(body, &GpuCatalog::builtin());
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["problems"][0]["field"], field, "{v}");
    }
}

#[test]
fn options_come_from_the_engine_and_assets_load_nothing_from_elsewhere() {
    let o = options_json(&GpuCatalog::builtin());
    assert!(o["models"].as_array().unwrap().iter().any(|m| m == "llama-2-7b"));
    assert_eq!(o["gpus"].as_array().unwrap().len(), GpuCatalog::builtin().all().len());
    assert_eq!(o["keys"].as_array().unwrap().len(), vramgate::contract::INPUT.len());
    for file in ["index.html", "app.js", "style.css"] {
        let text = std::fs::read_to_string(format!("{}/src/server/ui/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let external: Vec<&str> = text
            .match_indices("http")
            .map(|(i, _)| &text[i..(i + 40).min(text.len())])
            .filter(|s| !s.starts_with("http://www.w3.org/2000/svg"))
            .collect();
        assert!(external.is_empty(), "{file} refers to another origin: {external:?}");
    }
}

/// One request on a fresh connection to the plain port; the status line and body.
async fn plain(addr: std::net::SocketAddr, request: &str) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let io = async {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        tcp.write_all(request.as_bytes()).await.expect("write");
        let mut out = Vec::new();
        tcp.read_to_end(&mut out).await.expect("read");
        out
    };
    let out = tokio::time::timeout(std::time::Duration::from_secs(10), io).await.expect("answered within 10 s");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.lines().next().unwrap_or("").to_owned();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// The real server with the page on or off; its certificate directory lives as long as it.
async fn serve(ui: bool) -> (crate::common::Spawned, crate::common::TempDir) {
    let dir = crate::common::TempDir::new(if ui { "ui-on" } else { "ui-off" });
    let opts = vramgate::server::ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics_listen: "127.0.0.1:0".parse().unwrap(),
        reload_interval: std::time::Duration::ZERO,
        ui,
        ..vramgate::server::ServeOptions::new(vramgate::server::TlsSource::Dev { dir: dir.0.clone() })
    };
    (crate::common::spawn(opts).await, dir)
}

#[tokio::test]
async fn serve_serves_the_page_on_the_plain_port_unless_no_ui() {
    let (on, _dir) = serve(true).await;
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let (status, body) = plain(on.addrs.metrics, &get("/ui")).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("<script src=\"/ui/app.js\""), "{body}");
    let json = r#"{"fields": {"model": "llama-2-7b"}}"#;
    let post = format!(
        "POST /api/estimate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    );
    let (status, body) = plain(on.addrs.metrics, &post).await;
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert!(body.contains("\"vramgate.io/model\":\"llama-2-7b\""), "{body}");
    let too_big = vramgate::server::ui::MAX_UI_BODY_BYTES + 1;
    let (status, _) = plain(
        on.addrs.metrics,
        &format!(
            "POST /api/estimate HTTP/1.1\r\nHost: localhost\r\nContent-Length: {too_big}\r\nConnection: close\r\n\r\n{{"
        ),
    )
    .await;
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    let (status, _) = plain(on.addrs.metrics, &get("/metrics")).await;
    assert_eq!(status, "HTTP/1.1 200 OK", "the probe and metrics routes stay");
    let _ = on.stop.send(());

    let (off, _dir) = serve(false).await;
    let (status, _) = plain(off.addrs.metrics, &get("/ui")).await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let _ = off.stop.send(());
}
