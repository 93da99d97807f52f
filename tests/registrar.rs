//! `attestor registrar` end to end (being written).
