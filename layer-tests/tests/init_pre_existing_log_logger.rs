//! REQ_0804 (and REQ_0805), precedence branch 2b: an integrator installed their own `log` logger
//! first. Init keeps it (`Backend::PreExisting`), reports that the bridge
//! could not be installed (`LogBridge::LoggerAlreadySet`) instead of
//! panicking, and `log` records keep reaching that logger. Its own binary:
//! global state can be set only once.

use std::sync::Mutex;

use taktora_log::{Backend, DltLayer, Init, LogBridge};

/// The integrator's logger: collects `LEVEL target: message`.
struct Collecting(Mutex<Vec<String>>);

impl log::Log for Collecting {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        self.0.lock().expect("logger lock").push(format!(
            "{} {}: {}",
            record.level(),
            record.target(),
            record.args()
        ));
    }

    fn flush(&self) {}
}

static THEIRS: Collecting = Collecting(Mutex::new(Vec::new()));

#[test]
fn req_0804_pre_existing_log_logger_is_kept_and_the_bridge_reports_why() {
    log::set_logger(&THEIRS).expect("the integrator's logger is the first");
    log::set_max_level(log::LevelFilter::Trace);

    let pipes = tempfile::tempdir().expect("temp pipe dir");
    // `init`, not `try_init`: this branch is a success, so it must not
    // panic, even with a DLT layer configured.
    let guard = Init::new()
        .with_dlt(DltLayer::builder("PRLG").with_pipe_dir(pipes.path()))
        .init();
    assert_eq!(guard.backend(), Backend::PreExisting);
    assert_eq!(guard.log_bridge(), LogBridge::LoggerAlreadySet);
    assert!(guard.dlt().is_none(), "no DLT pipeline was started");
    assert!(
        !tracing::dispatcher::has_been_set(),
        "no global tracing subscriber was installed behind the integrator's back"
    );

    log::warn!(target: "prlg::dep", "still reaches their logger");
    log::info!("and so does {}", "this");

    let seen = THEIRS.0.lock().expect("logger lock").clone();
    assert!(
        seen.contains(&"WARN prlg::dep: still reaches their logger".to_owned()),
        "{seen:#?}"
    );
    assert!(
        seen.contains(&"INFO init_pre_existing_log_logger: and so does this".to_owned()),
        "{seen:#?}"
    );
    assert_eq!(
        log::max_level(),
        log::LevelFilter::Trace,
        "their max level untouched"
    );
    drop(guard);
}
