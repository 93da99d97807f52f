//! Time as attestor reads and prints it: Go durations with the range each key accepts
//! ([`duration`]) and wall-clock timestamps ([`clock`]). A leaf: it uses no other module of the
//! crate, so config, policy, audit and the plugin surface can all share one reading of time.

pub mod clock;
pub mod duration;

pub use duration::{DurationError, DurationRange, NonPositive, format_go_duration, parse_go_duration};
