//! REQ_0803: a failed `try_init` (invalid configuration, or the DLT FIFO cannot be
//! created) leaves init retryable: the next call succeeds and the `log`
//! bridge is reported installed exactly once per process. Its own binary:
//! global state can be set only once.

use taktora_log::{Backend, DltLayer, Init, InitErrorKind, LogBridge};

#[test]
fn req_0803_try_init_can_be_retried_after_a_setup_error() {
    let bad_id = Init::new()
        .with_dlt(DltLayer::builder("TOOLONG"))
        .try_init()
        .expect_err("invalid application ID");
    assert_eq!(bad_id.kind(), InitErrorKind::InvalidId, "{bad_id}");

    let not_a_dir = tempfile::NamedTempFile::new().expect("temp file");
    let io = Init::new()
        .with_dlt(DltLayer::builder("RTRY").with_pipe_dir(not_a_dir.path()))
        .try_init()
        .expect_err("the FIFO cannot be created under a regular file");
    assert_eq!(io.kind(), InitErrorKind::Io, "{io}");

    let guard = Init::new().try_init().expect("retry succeeds");
    assert_eq!(guard.backend(), Backend::Console);
    assert_eq!(guard.log_bridge(), LogBridge::Installed);

    let again = Init::new().try_init().expect_err("now it has run");
    assert_eq!(again.kind(), InitErrorKind::AlreadyInitialized);
}
