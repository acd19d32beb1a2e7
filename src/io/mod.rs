//! Plumbing below every protocol: bulk pipes and the relay that moves a
//! body by splice(2) without copying it, things kept for reuse and the
//! shared buffers script reads go into, an accepted connection of either kind (TCP or Unix), and
//! waiting on one descriptor with a deadline.

pub mod fd_limit;
pub mod kept;
pub mod pipe;
pub mod relay;
pub mod scratch;
pub mod stream;
pub mod wait;
