//! Real processes in real Kubernetes-shaped cgroups, attested through the real `/proc`:
//!
//! * cgroup v1: a `pids` (or other) hierarchy, `kubepods/besteffort/pod<uid>/<container id>`
//!   as the kubelet's cgroupfs driver lays it out;
//! * cgroup v2: the unified hierarchy, `kubepods.slice/…/cri-containerd-<id>.scope` as the
//!   systemd driver lays it out (most hosts today).
//!
//! Each needs root and a writable hierarchy of its kind. This file has its own test harness
//! (libtest-mimic) so that a test that cannot run here is reported as *ignored*, with the reason,
//! in the runner's summary, instead of passing without having run.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::Path;
use std::sync::Arc;

use attestor::config::Config;
use attestor::facts::kubernetes::SourceMode;
use attestor::pipeline::Attestor;
use attestor::sandbox::{Runtime, RuntimeSettings};
use attestor::workload::Pid;
use common::cgroups::{Hierarchy, POD_UID, PodCgroup, container_id, find};
use common::kubelet::{Behaviour, FakeKubelet, Transport, pod, pod_list};
use libtest_mimic::{Arguments, Failed, Trial};

/// Attest the process in the pod cgroup against a loopback kubelet that lists its pod.
fn attest_real_pod(h: &Hierarchy) -> Result<(), Failed> {
    let pod_cgroup = PodCgroup::create(h)?;
    let cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", pod_cgroup.pid())).unwrap();
    assert!(cgroup.contains(&container_id()), "the kernel puts the process in the pod cgroup: {cgroup}");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let k = FakeKubelet::start(
            Transport::Plain,
            Behaviour {
                body: pod_list(&[pod(POD_UID, "real", "sleeper", "sleep", &container_id())]),
                ..Behaviour::default()
            },
        )
        .await;
        let text = format!(
            "kubelet_read_only_port = {}\nunix {{\n  passwd_file = \"/dev/null\"\n  group_file = \"/dev/null\"\n}}\n",
            k.port()
        );
        let c = Config::parse_with_env(&text, Path::new("."), &|_| None).unwrap();
        let runtime = Arc::new(Runtime::new(RuntimeSettings::default()).unwrap());
        let a = Arc::new(Attestor::new(&c, runtime, "/proc", SourceMode::Enabled).unwrap());
        let att = a.attest(Pid(pod_cgroup.pid())).await.map_err(|e| format!("attestation failed: {e}"))?;
        let sels: Vec<String> = att.selectors().iter().map(ToString::to_string).collect();
        assert!(sels.contains(&format!("k8s:pod-uid:{POD_UID}")), "{sels:?}");
        assert!(sels.contains(&"k8s:container-name:sleep".to_owned()), "{sels:?}");
        assert!(sels.iter().any(|s| s.starts_with("unix:path:") && s.ends_with("sleep")), "{sels:?}");
        assert!(sels.iter().any(|s| s.starts_with("unix:sha256:")), "{sels:?}");
        assert_eq!(att.spiffe_ids()[0].id.to_string(), "spiffe://example.org/ns/real/sa/app-sa");
        // Again: the same facts, the outcome reused, the same answer.
        let again = a.attest(Pid(pod_cgroup.pid())).await.map_err(|e| format!("second attestation failed: {e}"))?;
        assert!(again.is_reused());
        assert_eq!(again.selectors(), att.selectors());
        Ok(())
    })
}

fn trial(name: &str, v2: bool) -> Trial {
    match find(v2) {
        Ok(h) => Trial::test(name, move || attest_real_pod(&h)),
        Err(why) => {
            eprintln!("note: {name} is ignored on this machine: {why}");
            // Run anyway (`--include-ignored`), it fails with the reason rather than passing.
            Trial::test(name, move || Err(Failed::from(why))).with_ignored_flag(true)
        }
    }
}

fn main() {
    let args = Arguments::from_args();
    let trials = vec![
        trial("a_real_process_in_a_real_v1_pod_cgroup", false),
        trial("a_real_process_in_a_real_v2_pod_cgroup", true),
    ];
    libtest_mimic::run(&args, trials).exit();
}
