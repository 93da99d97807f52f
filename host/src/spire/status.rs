//! Errors as gRPC statuses, with SPIRE's codes where SPIRE assigns one and otherwise the code
//! that follows from who is at fault.

use tonic::Status;

use crate::facts::GatherError;
use crate::facts::kubernetes::Code;
use crate::fault::Fault;
use crate::generation::SetupError;
use crate::pipeline::AttestError;

/// The status for a failed attestation.
pub fn attest(e: &AttestError) -> Status {
    let msg = e.to_string();
    match e {
        // SPIRE's `k8s` attestor assigns these codes itself; a drop-in keeps them.
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
        _ => match e.fault() {
            // The operator's configuration does not allow this attestation (a recorded proc
            // root without the file, an executable over the size limit).
            Fault::Config => Status::failed_precondition(msg),
            Fault::Kubelet => Status::unavailable(msg),
            // SPIRE answers every Sigstore failure, a registry's included, with Internal.
            Fault::Workload | Fault::Registry | Fault::Module | Fault::Policy | Fault::Host => Status::internal(msg),
        },
    }
}

/// The status for a configuration that cannot be used: InvalidArgument (SPIRE's built-ins) for
/// what the operator, a module's author or a policy author must fix; Internal for the host's
/// own faults (an engine that cannot be created, the embedded schema), which no change to the
/// configuration can fix.
pub fn setup(e: &SetupError) -> Status {
    match e.fault() {
        Fault::Host => Status::internal(e.to_string()),
        Fault::Kubelet | Fault::Registry => Status::unavailable(e.to_string()),
        Fault::Workload | Fault::Config | Fault::Module | Fault::Policy => Status::invalid_argument(e.to_string()),
    }
}

#[cfg(test)]
mod tests;
