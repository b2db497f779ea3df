//! REQ_0803, precedence branch 1: a second init in the same process is an error of
//! kind `AlreadyInitialized`, replaces nothing, and the first backend
//! keeps delivering to the daemon. Its own binary: global state can be
//! set only once.

use std::time::Duration;

use layer_tests::{require_dlt_tools, PrivateDaemon, Receiver};
use taktora_log::{Backend, DltLayer, Init, InitErrorKind, LogBridge};

/// Generous bound for anything to arrive on a loaded 2-core machine.
const ARRIVAL: Duration = Duration::from_secs(20);

#[test]
#[cfg_attr(no_dlt_tools, ignore = "no dlt-daemon: run scripts/install-deps.sh")]
fn req_0803_second_init_is_an_error_and_the_first_backend_keeps_working() {
    if !require_dlt_tools() {
        return;
    }
    let daemon = PrivateDaemon::start().expect("start private dlt-daemon");
    let receiver = Receiver::start(daemon.port()).expect("start dlt-receive");
    let builder = |app: &str| {
        DltLayer::builder(app)
            .with_pipe_dir(daemon.dir())
            .with_default_context("MAIN", "test main")
    };

    let first = Init::new()
        .with_dlt(builder("FRST"))
        .try_init()
        .expect("first init succeeds");
    assert_eq!(first.backend(), Backend::Dlt);
    assert_eq!(first.log_bridge(), LogBridge::Installed);
    tracing::info!("before the second init");

    // Every way in reports the error, with or without a DLT layer.
    let again = Init::new()
        .with_dlt(builder("SCND"))
        .try_init()
        .expect_err("second init with DLT");
    assert_eq!(again.kind(), InitErrorKind::AlreadyInitialized, "{again}");
    let again = Init::new().try_init().expect_err("second init, console");
    assert_eq!(again.kind(), InitErrorKind::AlreadyInitialized, "{again}");
    let again = taktora_log::try_init("THRD").expect_err("second try_init(app)");
    assert_eq!(again.kind(), InitErrorKind::AlreadyInitialized, "{again}");
    // `init` panics instead (its documented `# Panics`).
    // Silence the default hook's message for this expected panic only.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let panicked = std::panic::catch_unwind(|| Init::new().init());
    std::panic::set_hook(hook);
    assert!(panicked.is_err(), "Init::init panics when init already ran");

    tracing::warn!(attempt = 2u32, "after the second init");
    log::error!("log after the second init");

    let outcome = first.flush(ARRIVAL);
    assert!(outcome.complete, "flush completes: {outcome:?}");
    let lines = receiver
        .wait_for_count(|l| l.is_log_from("FRST", "MAIN"), 3, ARRIVAL)
        .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()));
    let tails: Vec<String> = lines.iter().map(|l| l.tail()).collect();
    assert_eq!(
        tails,
        [
            "FRST MAIN log info V 1 [before the second init]",
            "FRST MAIN log warn V 2 [after the second init 2]",
            "FRST MAIN log error V 1 [log after the second init]",
        ],
        "the first backend still delivers, in order"
    );
    let others: Vec<String> = receiver
        .dlt_lines()
        .iter()
        .filter(|l| l.apid == "SCND" || l.apid == "THRD")
        .map(|l| l.tail())
        .collect();
    assert!(
        others.is_empty(),
        "no second application registered or logged: {others:#?}"
    );

    drop(first);
    drop(receiver);
}
