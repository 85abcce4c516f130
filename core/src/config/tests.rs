use std::collections::HashMap;

use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn load(text: &str, e: &[(&str, &str)]) -> Result<Config> {
    Config::load_with(Some(text), None, &env(e))
}

#[test]
fn no_configuration_means_direct_mode_and_a_local_filesystem_backend() {
    let cfg = Config::load_with(None, None, &env(&[])).unwrap();
    assert_eq!(cfg.mode, Mode::Direct);
    assert_eq!(cfg.direct_backends.len(), 1);
    match &cfg.direct_backends[0].kind {
        BackendKind::Filesystem(f) => assert_eq!(f.path, std::path::PathBuf::from("./monitoring-events")),
        other => panic!("{other:?}"),
    }
    assert_eq!(cfg.queue.capacity, 65536);
    assert_eq!(cfg.limits.max_event_bytes, 65536);
}

#[test]
fn yaml_and_json_documents_load() {
    let yaml = "mode: direct\napp: {name: wafer-etch, version: 1.4, site_id: fab1}\ndirect_backends:\n  - {type: filesystem, name: local, path: /tmp/ev, rotate_mb: 5, fsync: always}\n  - {type: webhook, name: hook, url: 'http://127.0.0.1:9/x', priority: 2, filter: {kinds: [error, finished]}}\ndelivery: failover\nqueue: {capacity: 10, on_full: block}\n";
    let cfg = load(yaml, &[]).unwrap();
    assert_eq!(cfg.app.version.as_deref(), Some("1.4"));
    assert_eq!(cfg.delivery, Delivery::Failover);
    assert_eq!(cfg.queue.on_full, OnFull::Block);
    assert_eq!(cfg.direct_backends[1].priority, 2);
    assert!(cfg.direct_backends[1].accepts(crate::Kind::Error, "job"));
    assert!(!cfg.direct_backends[1].accepts(crate::Kind::Metric, "job"));
    let flow = "{app: {name: flow}, queue: {batch_max: 3}}";
    assert_eq!(load(flow, &[]).unwrap().queue.batch_max, 3, "a one-line YAML flow mapping is inline YAML");
    let json = r#"{"app": {"name": "x"}, "queue": {"batch_max": 7}}"#;
    assert_eq!(load(json, &[]).unwrap().queue.batch_max, 7);
}

#[test]
fn unknown_keys_are_named_with_their_path() {
    let yaml = "direct_backends:\n  - {type: filesystem, path: /tmp/a}\n  - {type: webhook, url: 'http://x', bukcet: events}\n";
    let e = load(yaml, &[]).unwrap_err();
    assert_eq!(e.field(), Some("direct_backends[1].bukcet"), "{e}");
    let e = load("queue: {capacty: 5}\n", &[]).unwrap_err();
    assert_eq!(e.field(), Some("queue.capacty"), "{e}");
    let e = load("colour: blue\n", &[]).unwrap_err();
    assert_eq!(e.field(), Some("colour"), "{e}");
    let e = load("direct_backends:\n  - {type: ftp}\n", &[]).unwrap_err();
    assert_eq!(e.field(), Some("direct_backends[0].type"), "{e}");
    let e = load("direct_backends:\n  - {type: webhook}\n", &[]).unwrap_err();
    assert_eq!(e.field(), Some("direct_backends[0].url"), "{e}");
    let e = load("queue: {capacity: lots}\n", &[]).unwrap_err();
    assert_eq!(e.field(), Some("queue.capacity"), "{e}");
    let e = load("direct_backends:\n  - {type: filesystem}\n  - {type: filesystem}\n", &[]).unwrap_err();
    assert_eq!(e.field(), Some("direct_backends[1].name"), "{e}");
}

#[test]
fn variables_are_expanded_with_defaults_and_types() {
    let yaml = "sidecar: {token: '${TOKEN:-}', url: '${URL:-http://127.0.0.1:17000}'}\nqueue: {capacity: '${CAP:-100}'}\napp: {name: 'pre-${NAME}-post'}\n";
    let cfg = load(yaml, &[("NAME", "etch"), ("CAP", "42")]).unwrap();
    assert_eq!(cfg.queue.capacity, 42);
    assert_eq!(cfg.app.name.as_deref(), Some("pre-etch-post"));
    assert_eq!(cfg.sidecar.token.as_deref(), Some(""));
    assert_eq!(cfg.sidecar.url, "http://127.0.0.1:17000");
    let e = load("app: {name: '${MISSING}'}\n", &[]).unwrap_err();
    assert_eq!(e.field(), Some("app.name"), "{e}");
    assert!(e.to_string().contains("MISSING"));
    assert_eq!(load("app: {name: 'a$${b}'}\n", &[]).unwrap().app.name.as_deref(), Some("a${b}"));
}

#[test]
fn precedence_is_overrides_then_environment_then_file() {
    let yaml = "mode: direct\napp: {name: from-file, site_id: file-site}\n";
    let e = env(&[("MONITORING_APP_NAME", "from-env"), ("MONITORING_MODE", "sidecar")]);
    let cfg =
        Config::load_with(Some(yaml), Some(serde_json::json!({"app": {"name": "from-args"}})), &e).unwrap();
    assert_eq!(cfg.app.name.as_deref(), Some("from-args"));
    assert_eq!(cfg.app.site_id.as_deref(), Some("file-site"));
    assert_eq!(cfg.mode, Mode::Sidecar);
    assert!(matches!(cfg.effective_backends()[0].kind, BackendKind::Sidecar(_)));
}

#[test]
fn files_are_read_by_extension_and_from_monitoring_config() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("c.yaml");
    std::fs::write(&yaml, "app: {name: y}\n").unwrap();
    let json = dir.path().join("c.json");
    std::fs::write(&json, r#"{"app": {"name": "j"}}"#).unwrap();
    assert_eq!(load(yaml.to_str().unwrap(), &[]).unwrap().app.name.as_deref(), Some("y"));
    assert_eq!(load(json.to_str().unwrap(), &[]).unwrap().app.name.as_deref(), Some("j"));
    let cfg = Config::load_with(None, None, &env(&[("MONITORING_CONFIG", yaml.to_str().unwrap())])).unwrap();
    assert_eq!(cfg.app.name.as_deref(), Some("y"));
    let e = load("/nonexistent/monitoring.yaml", &[]).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/monitoring.yaml"), "{e}");
    std::fs::write(&yaml, "app: [unclosed\n").unwrap();
    assert!(matches!(load(yaml.to_str().unwrap(), &[]), Err(Error::Config { .. })));
}

#[test]
fn invalid_values_are_rejected() {
    assert_eq!(load("queue: {capacity: 0}\n", &[]).unwrap_err().field(), Some("queue.capacity"));
    assert_eq!(load("retry: {multiplier: 0.5}\n", &[]).unwrap_err().field(), Some("retry.multiplier"));
    assert_eq!(load("mode: sideways\n", &[]).unwrap_err().field(), Some("mode"));
}

#[test]
fn backend_errors_name_the_key_as_written_counting_disabled_backends() {
    // The webhook's URL is checked when the backend is built, after disabled backends are set
    // aside; the error must still point at the entry the user wrote, not at its rank among the
    // enabled ones.
    let cfg = load(
        "direct_backends:\n  - {type: filesystem, name: off, path: /tmp/x, enabled: false}\n  \
         - {type: webhook, name: hook, url: 'ftp://example.com/'}\n",
        &[],
    )
    .unwrap();
    let e = crate::Client::from_config(cfg).err().expect("an ftp:// URL is refused");
    assert_eq!(e.field(), Some("direct_backends[1].url"), "{e}");

    let cfg = load("mode: sidecar\nsidecar: {url: 'ftp://example.com/'}\n", &[]).unwrap();
    let e = crate::Client::from_config(cfg).err().expect("an ftp:// URL is refused");
    assert_eq!(e.field(), Some("sidecar.url"), "{e}");
}
