//! Shared harness for the integration tests: a private dlt-daemon and dlt-receive.
