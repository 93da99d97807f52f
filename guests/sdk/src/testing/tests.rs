use super::*;
use std::cell::Cell;

fn host_process() -> Workload {
    Workload {
        unix: Unix {
            pid: 4242,
            uid: 1000,
            euid: 1000,
            gid: 1000,
            egid: 1000,
            supplementary_gids: vec![],
            user: None,
            group: None,
            exe_path: None,
            exe_sha256: None,
        },
        kubernetes: None,
        facts: vec![],
    }
}

fn default_pod() -> Pod {
    Pod {
        uid: "00000000-0000-0000-0000-000000000001".into(),
        name: "pod".into(),
        namespace: "default".into(),
        service_account: "default".into(),
        node_name: "node-1".into(),
        labels: vec![],
        annotations: vec![],
        owners: vec![],
        host_network: false,
    }
}

fn kv(key: &str, value: &str) -> Label {
    Label { key: key.into(), value: value.into() }
}

#[test]
fn defaults_are_a_host_process() {
    assert_eq!(WorkloadBuilder::new().build(), host_process());
    assert_eq!(workload(), WorkloadBuilder::new());
    assert_eq!(WorkloadBuilder::default(), WorkloadBuilder::new());
    assert_eq!((DEFAULT_PID, DEFAULT_ID), (4242, 1000));
    assert_eq!(DEFAULT_CONTAINER_ID.len(), 64);
    assert!(DEFAULT_CONTAINER_ID.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
}

#[test]
fn unix_setters_land_in_their_fields() {
    let w = workload()
        .pid(7)
        .uid(10)
        .euid(0)
        .gid(20)
        .egid(5)
        .supplementary_gids(&[3, 1, 2])
        .user("root")
        .group("wheel")
        .exe("/usr/bin/passwd")
        .exe_sha256("ab12")
        .build();
    let expected = Workload {
        unix: Unix {
            pid: 7,
            uid: 10,
            euid: 0,
            gid: 20,
            egid: 5,
            supplementary_gids: vec![3, 1, 2],
            user: Some("root".into()),
            group: Some("wheel".into()),
            exe_path: Some("/usr/bin/passwd".into()),
            exe_sha256: Some("ab12".into()),
        },
        kubernetes: None,
        facts: vec![],
    };
    assert_eq!(w, expected);
}

#[test]
fn uid_and_gid_set_real_and_effective_ids_and_replace() {
    let w = workload().euid(0).uid(33).egid(0).gid(44).build();
    assert_eq!((w.unix.uid, w.unix.euid, w.unix.gid, w.unix.egid), (33, 33, 44, 44));
    let w = workload().uid(1).uid(2).euid(3).euid(4).supplementary_gids(&[9]).supplementary_gids(&[8]).build();
    assert_eq!((w.unix.uid, w.unix.euid), (2, 4));
    assert_eq!(w.unix.supplementary_gids, [8]);
    let w = workload().user("a").user("b").exe("/a").exe("/b").build();
    assert_eq!((w.unix.user.as_deref(), w.unix.exe_path.as_deref()), (Some("b"), Some("/b")));
}

#[test]
fn every_kubernetes_setter_creates_the_default_pod() {
    // (setter, what it does to the default pod)
    type Setter = fn(WorkloadBuilder) -> WorkloadBuilder;
    type Change = fn(&mut Kubernetes);
    let cases: [(&str, Setter, Change); 10] = [
        (
            "pod",
            |b| b.pod("web", "web-0"),
            |k| {
                k.pod.namespace = "web".into();
                k.pod.name = "web-0".into();
            },
        ),
        ("pod_uid", |b| b.pod_uid("u-1"), |k| k.pod.uid = "u-1".into()),
        ("service_account", |b| b.service_account(""), |k| k.pod.service_account = String::new()),
        ("node_name", |b| b.node_name("n-9"), |k| k.pod.node_name = "n-9".into()),
        ("label", |b| b.label("app", "web"), |k| k.pod.labels = vec![kv("app", "web")]),
        ("annotation", |b| b.annotation("a", "b"), |k| k.pod.annotations = vec![kv("a", "b")]),
        (
            "owner",
            |b| b.owner("ReplicaSet", "web-7d9f"),
            |k| {
                k.pod.owners = vec![OwnerReference {
                    kind: "ReplicaSet".into(),
                    name: "web-7d9f".into(),
                    uid: "00000000-0000-0000-0001-000000000001".into(),
                }]
            },
        ),
        ("host_network", |b| b.host_network(true), |k| k.pod.host_network = true),
        ("namespace_label", |b| b.namespace_label("env", "prod"), |k| k.namespace_labels = vec![kv("env", "prod")]),
        (
            "container",
            |b| b.container("web", "nginx:1.25.4", "docker.io/library/nginx@sha256:00"),
            |k| {
                k.container = Some(Container {
                    name: "web".into(),
                    id: DEFAULT_CONTAINER_ID.into(),
                    image: ImageRef { name: "nginx:1.25.4".into(), id: "docker.io/library/nginx@sha256:00".into() },
                    init: false,
                })
            },
        ),
    ];
    for (name, set, change) in cases {
        let mut expected = Kubernetes { pod: default_pod(), container: None, namespace_labels: vec![] };
        change(&mut expected);
        let w = set(workload().pid(9)).build();
        assert_eq!(w.kubernetes, Some(expected), "{name}");
        assert_eq!((w.unix.pid, w.unix.uid, w.facts.len()), (9, 1000, 0), "{name} left the rest alone");
    }
}

#[test]
fn kubernetes_setters_land_in_their_fields_and_keep_the_others() {
    let w = workload()
        .label("early", "1")
        .pod("payments", "api-0")
        .pod_uid("7b0c-pod")
        .service_account("api")
        .node_name("node-7")
        .host_network(true)
        .pod("payments", "api-1")
        .build();
    let pod = w.pod().unwrap();
    let expected = Pod {
        uid: "7b0c-pod".into(),
        name: "api-1".into(),
        namespace: "payments".into(),
        service_account: "api".into(),
        node_name: "node-7".into(),
        labels: vec![kv("early", "1")],
        annotations: vec![],
        owners: vec![],
        host_network: true,
    };
    assert_eq!(pod, &expected);
    assert_eq!(w.container(), None);
}

#[test]
fn container_sets_name_and_image_and_keeps_id_and_init() {
    let id = "f".repeat(64);
    let w = workload()
        .container_id(&id)
        .init_container(true)
        .container("migrate", "ghcr.io/acme/migrate:3", "ghcr.io/acme/migrate@sha256:ab")
        .build();
    let expected = Container {
        name: "migrate".into(),
        id: id.clone(),
        image: ImageRef { name: "ghcr.io/acme/migrate:3".into(), id: "ghcr.io/acme/migrate@sha256:ab".into() },
        init: true,
    };
    assert_eq!(w.container(), Some(&expected));
    assert_eq!(w.pod(), Some(&default_pod()));

    // The other order gives the same container.
    let other_order = workload()
        .container("migrate", "ghcr.io/acme/migrate:3", "ghcr.io/acme/migrate@sha256:ab")
        .init_container(true)
        .container_id(&id)
        .build();
    assert_eq!(other_order.container(), Some(&expected));

    // A second `container` replaces name and image; an image being pulled has an empty id.
    let w = workload().container("a", "a:1", "x").container("b", "b:2", "").build();
    let c = w.container().unwrap();
    assert_eq!((c.name.as_str(), c.image.name.as_str(), c.image.id.as_str()), ("b", "b:2", ""));
}

#[test]
fn container_id_alone_creates_the_default_container() {
    let w = workload().container_id("abc").build();
    let expected = Container {
        name: "app".into(),
        id: "abc".into(),
        image: ImageRef {
            name: "app:1.0".into(),
            id: "docker.io/library/app@sha256:0000000000000000000000000000000000000000000000000000000000000000".into(),
        },
        init: false,
    };
    assert_eq!(w.container(), Some(&expected));
    let w = workload().init_container(true).build();
    assert_eq!(w.container(), Some(&Container { id: DEFAULT_CONTAINER_ID.into(), init: true, ..expected }));
}

#[test]
fn list_setters_append_in_call_order() {
    let w = workload()
        .label("b", "1")
        .label("a", "2")
        .label("b", "3")
        .annotation("z", "1")
        .annotation("y", "2")
        .owner("ReplicaSet", "web-7d9f")
        .owner("Node", "node-1")
        .namespace_label("team", "web")
        .namespace_label("env", "prod")
        .fact("sigstore.verified", "true")
        .fact("host.name", "n1")
        .fact("host.name", "n2")
        .build();
    let k = w.kubernetes.as_ref().unwrap();
    assert_eq!(k.pod.labels, [kv("b", "1"), kv("a", "2"), kv("b", "3")]);
    assert_eq!(w.label("b"), Some("1"));
    assert_eq!(k.pod.annotations, [kv("z", "1"), kv("y", "2")]);
    assert_eq!(
        k.pod.owners,
        [
            OwnerReference {
                kind: "ReplicaSet".into(),
                name: "web-7d9f".into(),
                uid: "00000000-0000-0000-0001-000000000001".into()
            },
            OwnerReference {
                kind: "Node".into(),
                name: "node-1".into(),
                uid: "00000000-0000-0000-0001-000000000002".into()
            },
        ]
    );
    assert_eq!(k.namespace_labels, [kv("team", "web"), kv("env", "prod")]);
    let fact = |key: &str, value: &str| Fact { key: key.into(), value: value.into() };
    assert_eq!(w.facts, [fact("sigstore.verified", "true"), fact("host.name", "n1"), fact("host.name", "n2")]);
    assert_eq!(w.fact("host.name"), Some("n1"));
    assert_eq!(owner_uid(12), "00000000-0000-0000-0001-000000000012");
}

thread_local! {
    static ATTEST_CALLS: Cell<u32> = const { Cell::new(0) };
}

/// Accepts only the config `ok`; answers with the config it was given and the workload's pid.
struct Picky;

impl Module for Picky {
    const NAME: &'static str = "picky";
    const VERSION: &'static str = "0.0.1";
    const DESCRIPTION: &'static str = "refuses every config but `ok`";

    fn validate_config(config: &str) -> Result<(), Error> {
        if config == "ok" { Ok(()) } else { Err(Error::config(format!("not ok: {config:?}"))) }
    }

    fn attest(config: &str, workload: &Workload) -> Result<Attestation, Error> {
        ATTEST_CALLS.with(|c| c.set(c.get() + 1));
        let mut out = Attestation::new();
        out.selector(format!("pid:{}", workload.unix.pid)).fact("config", config);
        Ok(out)
    }
}

#[test]
fn attest_validates_the_config_first() {
    let w = workload().pid(31).build();
    assert_eq!(attest::<Picky>("nope", &w), Err(Error::Config("not ok: \"nope\"".into())));
    assert_eq!(ATTEST_CALLS.with(Cell::get), 0, "attest ran after validate_config refused");

    let a = attest::<Picky>("ok", &w).unwrap();
    assert_eq!(ATTEST_CALLS.with(Cell::get), 1);
    assert_eq!(a.selectors(), ["pid:31"]);
    assert_eq!(a.facts(), [("config".to_owned(), "ok".to_owned())]);
}

/// Keeps the default `validate_config`, logs at every level, and fails on a workload without a pod.
struct Chatty;

impl Module for Chatty {
    const NAME: &'static str = "chatty";
    const VERSION: &'static str = "0.0.1";
    const DESCRIPTION: &'static str = "logs a lot";

    fn attest(_config: &str, workload: &Workload) -> Result<Attestation, Error> {
        crate::log::trace("t");
        crate::log::debug("d");
        crate::log::info("i");
        crate::log::warn("w");
        crate::log::error("e");
        let pod = workload.pod().ok_or_else(|| Error::input("no pod"))?;
        crate::info!("pod {}/{}", pod.namespace, pod.name);
        crate::debug!("uid {}", pod.uid);
        crate::warn!("{} labels", pod.labels.len());
        crate::error!("node {}", pod.node_name);
        crate::trace!("sa {}", pod.service_account);
        Ok(Attestation::new())
    }
}

fn line(level: LogLevel, message: &str) -> LogLine {
    LogLine { level, message: message.into() }
}

fn plain_lines() -> Vec<LogLine> {
    vec![
        line(LogLevel::Trace, "t"),
        line(LogLevel::Debug, "d"),
        line(LogLevel::Info, "i"),
        line(LogLevel::Warn, "w"),
        line(LogLevel::Error, "e"),
    ]
}

#[test]
fn logs_are_captured_with_their_level_and_taken_once() {
    assert_eq!(take_logs(), []);
    let w = workload().pod("web", "web-0").build();
    assert_eq!(attest::<Chatty>("anything", &w), Ok(Attestation::new()));
    let mut expected = plain_lines();
    expected.extend([
        line(LogLevel::Info, "pod web/web-0"),
        line(LogLevel::Debug, "uid 00000000-0000-0000-0000-000000000001"),
        line(LogLevel::Warn, "0 labels"),
        line(LogLevel::Error, "node node-1"),
        line(LogLevel::Trace, "sa default"),
    ]);
    assert_eq!(take_logs(), expected);
    assert_eq!(take_logs(), [], "take_logs drains the buffer");

    // Lines logged before an error are kept too.
    assert_eq!(attest::<Chatty>("", &workload().build()), Err(Error::Input("no pod".into())));
    assert_eq!(take_logs(), plain_lines());
}

#[test]
fn logs_stay_on_their_thread() {
    crate::log::info("here");
    let elsewhere = std::thread::spawn(|| {
        crate::log::warn("there");
        take_logs()
    })
    .join()
    .unwrap();
    assert_eq!(elsewhere, [line(LogLevel::Warn, "there")]);
    assert_eq!(take_logs(), [line(LogLevel::Info, "here")]);
}

/// Answers with repeated fact keys, to read them back through the getters.
struct Facts;

impl Module for Facts {
    const NAME: &'static str = "facts";
    const VERSION: &'static str = "0.0.1";
    const DESCRIPTION: &'static str = "repeats itself";

    fn attest(_config: &str, workload: &Workload) -> Result<Attestation, Error> {
        let mut out = Attestation::new();
        out.selector("first").selector("second");
        for f in &workload.facts {
            out.fact(f.key.as_str(), f.value.as_str());
        }
        out.fact("tier", "gold");
        Ok(out)
    }
}

#[test]
fn attestation_getters_read_what_the_module_added() {
    let w = workload().fact("host.name", "n1").fact("tier", "silver").build();
    let a = attest::<Facts>("", &w).unwrap();
    assert_eq!(a.selectors(), ["first".to_owned(), "second".to_owned()]);
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    assert_eq!(a.facts(), [pair("host.name", "n1"), pair("tier", "silver"), pair("tier", "gold")]);
    assert_eq!(a.get_fact("tier"), Some("silver"), "the first value for a repeated key");
    assert_eq!(a.get_fact("host.name"), Some("n1"));
    assert_eq!(a.get_fact("missing"), None);

    let empty = Attestation::new();
    assert!(empty.selectors().is_empty() && empty.facts().is_empty());
    assert_eq!(empty.get_fact("tier"), None);
}
