use std::path::PathBuf;

use tonic::Code;

use super::*;
use crate::config::ConfigError;
use crate::facts::kubernetes::{CredentialError, K8sError, KubeletError, TlsError};
use crate::policy::{DecideError, Pass, PolicyError};
use crate::sandbox::{CallError, LoadError};

#[test]
fn attestation_codes_follow_spire_then_the_fault() {
    let k8s = |e: K8sError| AttestError::Gather(GatherError::Kubernetes(e));
    let credentials =
        KubeletError::Credentials(CredentialError::Ca(TlsError::NoCertificates("no PEM certificates found")));
    let cases: Vec<(AttestError, Fault, Code)> = vec![
        // SPIRE's own codes for its `k8s` attestor stay as they are.
        (k8s(K8sError::NotFound), Fault::Kubelet, Code::DeadlineExceeded),
        (k8s(K8sError::KubeletDisabled), Fault::Config, Code::FailedPrecondition),
        (k8s(K8sError::Kubelet(credentials)), Fault::Config, Code::Unavailable),
        (AttestError::Gather(GatherError::Vanished { pid: crate::workload::Pid(7) }), Fault::Workload, Code::Aborted),
        // Everything else follows from who is at fault.
        (
            AttestError::Gather(GatherError::ExeTooLarge { path: PathBuf::from("/bin/x"), size: 2, limit: 1 }),
            Fault::Config,
            Code::FailedPrecondition,
        ),
        (
            AttestError::Gather(GatherError::Malformed { path: PathBuf::from("/proc/7/status"), problem: "x".into() }),
            Fault::Host,
            Code::Internal,
        ),
        (AttestError::Module(CallError::OutOfFuel { module: "m".into(), fuel: 1 }), Fault::Module, Code::Internal),
        (
            AttestError::Module(CallError::Instantiate { module: "m".into(), reason: "pool".into() }),
            Fault::Host,
            Code::Internal,
        ),
        (AttestError::Decide(DecideError::NoSlice(Pass::Issue)), Fault::Host, Code::Internal),
    ];
    for (e, fault, code) in cases {
        assert_eq!((e.fault(), attest(&e).code()), (fault, code), "{e}");
    }
}

#[test]
fn setup_codes_follow_the_fault() {
    let cases: Vec<(SetupError, Fault, Code)> = vec![
        (SetupError::Config(ConfigError::Rule("x".into())), Fault::Config, Code::InvalidArgument),
        (SetupError::Module(LoadError::Engine("no memory for the pool".into())), Fault::Host, Code::Internal),
        (
            SetupError::Module(LoadError::ConfigRejected { module: "m".into(), message: "bad".into() }),
            Fault::Config,
            Code::InvalidArgument,
        ),
        (SetupError::Policy(PolicyError::Schema("broken".into())), Fault::Host, Code::Internal),
        (
            SetupError::Policy(PolicyError::Empty { dir: PathBuf::from("/etc/attestor/policies") }),
            Fault::Config,
            Code::InvalidArgument,
        ),
    ];
    for (e, fault, code) in cases {
        assert_eq!((e.fault(), setup(&e).code()), (fault, code), "{e}");
    }
}
