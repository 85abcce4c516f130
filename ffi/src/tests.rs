use super::*;
use std::ptr;

/// The checked-in header must be exactly what cbindgen generates from this crate.
/// `UPDATE_HEADER=1 cargo test -p monitoring-ffi header` rewrites it (`make header`).
#[test]
fn header_is_current() {
    let crate_dir = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(format!("{crate_dir}/cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen")
        .write(&mut generated);
    let path = format!("{crate_dir}/../include/monitoring.h");
    if std::env::var_os("UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write header");
        return;
    }
    let current = std::fs::read(&path).unwrap_or_default();
    assert!(
        current == generated,
        "include/monitoring.h differs from what cbindgen generates: run `make header` and commit it"
    );
}

/// A JSON configuration with one filesystem backend and the spool under `dir`.
fn config_in(dir: &std::path::Path) -> CString {
    let cfg = format!(
        "{{\"direct_backends\":[{{\"type\":\"filesystem\",\"path\":\"{}\"}}],\"spool\":{{\"path\":\"{}\"}}}}",
        dir.join("events").display(),
        dir.join("spool").display()
    );
    CString::new(cfg).unwrap()
}

fn last_error() -> String {
    unsafe { CStr::from_ptr(monitoring_last_error()) }.to_string_lossy().into_owned()
}

#[test]
fn null_arguments_are_errors_not_crashes() {
    unsafe {
        assert_eq!(monitoring_configure(ptr::null(), ptr::null_mut()), MONITORING_ERR_INVALID_ARGUMENT);
        assert!(last_error().contains("out"));
        assert_eq!(monitoring_emit(ptr::null_mut(), c"{}".as_ptr()), MONITORING_ERR_INVALID_ARGUMENT);
        assert_eq!(monitoring_flush(ptr::null_mut(), 10), MONITORING_ERR_INVALID_ARGUMENT);
        assert_eq!(
            monitoring_job_finish(ptr::null_mut(), ptr::null(), ptr::null()),
            MONITORING_ERR_INVALID_ARGUMENT
        );
        assert!(monitoring_job_id(ptr::null()).is_null());
        monitoring_client_free(ptr::null_mut());
        monitoring_string_free(ptr::null_mut());
    }
}

#[test]
fn emit_and_stats_through_the_abi() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_in(dir.path());
    unsafe {
        let mut c = ptr::null_mut();
        assert_eq!(monitoring_configure(cfg.as_ptr(), &mut c), MONITORING_OK, "{}", last_error());
        assert_eq!(last_error(), "");
        assert_eq!(monitoring_emit(c, c"{\"event\":{\"kind\":\"metric\"}}".as_ptr()), MONITORING_OK);
        assert_eq!(
            monitoring_emit(c, c"{\"event\":{\"kind\":\"metric\",\"colour\":1}}".as_ptr()),
            MONITORING_ERR_INVALID_ARGUMENT
        );
        assert!(last_error().contains("event.colour"), "{}", last_error());
        let mut j = ptr::null_mut();
        assert_eq!(
            monitoring_job_start(c, c"etch".as_ptr(), ptr::null(), ptr::null(), &mut j),
            MONITORING_OK
        );
        assert_eq!(monitoring_job_progress(j, 150.0, ptr::null()), MONITORING_ERR_INVALID_ARGUMENT);
        assert_eq!(monitoring_job_finish(j, c"failed".as_ptr(), c"boom".as_ptr()), MONITORING_OK);
        assert_eq!(monitoring_flush(c, 5000), MONITORING_OK);
        let mut s = ptr::null_mut();
        assert_eq!(monitoring_stats_json(c, &mut s), MONITORING_OK);
        let stats: serde_json::Value = serde_json::from_str(CStr::from_ptr(s).to_str().unwrap()).unwrap();
        monitoring_string_free(s);
        assert_eq!(stats["emitted"], 3);
        assert_eq!(stats["delivered"], 3);
        assert_eq!(stats["invalid"], 1);
        assert_eq!(monitoring_shutdown(c, 1000), MONITORING_OK);
        assert_eq!(monitoring_shutdown(c, 1000), MONITORING_OK);
        assert_eq!(
            monitoring_emit(c, c"{\"event\":{\"kind\":\"metric\"}}".as_ptr()),
            MONITORING_ERR_SHUTDOWN
        );
        monitoring_client_free(c);
    }
}

/// Each thread keeps its own last error: a successful call clears the caller's, whatever other
/// threads hold, including threads that exit with an error set (the count of threads with one
/// lets a successful call skip the thread-local while it is 0).
#[test]
fn last_error_is_per_thread_and_cleared_by_success() {
    struct Client(*mut monitoring_client);
    // SAFETY: a client may be used from any thread.
    unsafe impl Send for Client {}
    unsafe impl Sync for Client {}
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_in(dir.path());
    let ok = c"{\"event\":{\"kind\":\"metric\"}}";
    let bad = c"{\"event\":{\"kind\":\"metric\",\"colour\":1}}";
    unsafe {
        let mut c = ptr::null_mut();
        assert_eq!(monitoring_configure(cfg.as_ptr(), &mut c), MONITORING_OK, "{}", last_error());
        let client = Client(c);
        assert_eq!(monitoring_emit(client.0, bad.as_ptr()), MONITORING_ERR_INVALID_ARGUMENT);
        std::thread::scope(|s| {
            // Another thread: its success leaves this thread's error alone; it exits with an
            // error of its own set.
            s.spawn(|| {
                let c = &client;
                assert_eq!(monitoring_emit(c.0, ok.as_ptr()), MONITORING_OK);
                assert_eq!(last_error(), "");
                assert_eq!(monitoring_emit(c.0, bad.as_ptr()), MONITORING_ERR_INVALID_ARGUMENT);
                assert!(last_error().contains("event.colour"));
                assert_eq!(monitoring_emit(c.0, ok.as_ptr()), MONITORING_OK);
                assert_eq!(last_error(), "");
                assert_eq!(monitoring_emit(c.0, bad.as_ptr()), MONITORING_ERR_INVALID_ARGUMENT);
            })
            .join()
            .unwrap();
        });
        assert!(last_error().contains("event.colour"), "{}", last_error());
        assert_eq!(monitoring_emit(client.0, ok.as_ptr()), MONITORING_OK);
        assert_eq!(last_error(), "");
        assert_eq!(monitoring_emit(client.0, bad.as_ptr()), MONITORING_ERR_INVALID_ARGUMENT);
        assert_eq!(monitoring_flush(client.0, 5000), MONITORING_OK);
        assert_eq!(last_error(), "");
        assert_eq!(monitoring_shutdown(client.0, 1000), MONITORING_OK);
        monitoring_client_free(client.0);
    }
}
