//! REQ_0804, precedence: a pre-existing subscriber (branch 2) wins over the DLT
//! layer (branch 3) even when the DLT pipeline could not be set up (its
//! application FIFO cannot be created): init reports `PreExisting` as a
//! success, it does not fail. Its own binary: global state can be set
//! only once.

use taktora_log::{Backend, DltLayer, Init, LogBridge};

#[test]
fn req_0804_pre_existing_subscriber_wins_even_when_the_dlt_fifo_cannot_be_created() {
    tracing::subscriber::set_global_default(tracing_subscriber::registry())
        .expect("the integrator's subscriber is the first");
    // A regular file as the pipe directory: `<file>/dltpipes` cannot be
    // created, even as root.
    let not_a_dir = tempfile::NamedTempFile::new().expect("temp file");

    let guard = Init::new()
        .with_dlt(DltLayer::builder("PRIO").with_pipe_dir(not_a_dir.path()))
        .try_init()
        .expect("a pre-existing subscriber is a success, whatever DLT's set-up says");
    assert_eq!(guard.backend(), Backend::PreExisting);
    assert_eq!(guard.log_bridge(), LogBridge::Installed);
    assert!(guard.dlt().is_none());
}
