//! Errors as gRPC statuses, with SPIRE's codes.

use tonic::Status;

use crate::facts::GatherError;
use crate::facts::kubernetes::Code;
use crate::generation::SetupError;
use crate::pipeline::AttestError;

/// The status for a failed attestation.
pub fn attest(e: &AttestError) -> Status {
    let msg = e.to_string();
    match e {
        AttestError::Gather(GatherError::Kubernetes(k)) => match k.code() {
            Code::InvalidArgument => Status::invalid_argument(msg),
            Code::FailedPrecondition => Status::failed_precondition(msg),
            Code::Internal => Status::internal(msg),
            Code::Unavailable => Status::unavailable(msg),
            Code::DeadlineExceeded => Status::deadline_exceeded(msg),
        },
        AttestError::Gather(GatherError::NoSuchProcess { .. }) => Status::not_found(msg),
        // The process is gone or was replaced: nothing to attest, and trying again will not help.
        AttestError::Gather(GatherError::Vanished { .. } | GatherError::PidReused { .. }) => Status::aborted(msg),
        AttestError::Gather(_) | AttestError::Module(_) | AttestError::Decide(_) | AttestError::Task(_) => {
            Status::internal(msg)
        }
    }
}

/// The status for a configuration that cannot be used (SPIRE's built-ins: InvalidArgument).
pub fn setup(e: &SetupError) -> Status {
    Status::invalid_argument(e.to_string())
}
