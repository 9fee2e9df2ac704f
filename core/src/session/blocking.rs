//! SQLite work from inside the session's task.

/// Runs a handler's store work so it does not hold up the runtime: on a
/// multi-threaded runtime the worker hands its other tasks off while
/// SQLite works (`block_in_place`); elsewhere (unit tests on a
/// current-thread runtime) it just runs.
pub(super) fn off_worker<R>(work: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}
