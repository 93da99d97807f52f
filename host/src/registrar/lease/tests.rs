use std::time::Duration;

use super::*;

fn at(text: &str) -> jiff::Timestamp {
    text.parse().unwrap()
}

fn held_by(holder: &str, duration_seconds: i32) -> Record {
    Record {
        holder: holder.to_owned(),
        duration_seconds,
        transitions: 3,
        acquire_time: Some(at("2026-12-01T10:00:00Z")),
        renew_time: Some(at("2026-12-01T10:05:00Z")),
    }
}

#[test]
fn no_lease_is_absent() {
    assert_eq!(standing(None, Duration::ZERO, "me"), Standing::Absent);
    assert!(Standing::Absent.may_write());
}

#[test]
fn an_empty_holder_is_released_whatever_its_age() {
    let record = Record { holder: String::new(), ..held_by("x", 15) };
    assert_eq!(standing(Some(&record), Duration::ZERO, "me"), Standing::Released);
    assert!(Standing::Released.may_write());
}

#[test]
fn another_holder_seen_for_less_than_the_duration_holds_it() {
    let record = held_by("other_1", 15);
    assert_eq!(
        standing(Some(&record), Duration::from_secs(4), "me"),
        Standing::Held { holder: "other_1".into(), expires_in: Duration::from_secs(11) }
    );
    assert!(!standing(Some(&record), Duration::from_secs(4), "me").may_write());
    // Just seen: the whole duration is left, whatever renewTime says (it is an hour old here).
    assert_eq!(
        standing(Some(&record), Duration::ZERO, "me"),
        Standing::Held { holder: "other_1".into(), expires_in: Duration::from_secs(15) }
    );
}

#[test]
fn another_holder_unchanged_for_the_lease_duration_has_expired() {
    let record = held_by("other_1", 15);
    assert_eq!(standing(Some(&record), Duration::from_secs(15), "me"), Standing::Expired { holder: "other_1".into() });
    assert_eq!(standing(Some(&record), Duration::from_secs(60), "me"), Standing::Expired { holder: "other_1".into() });
    // The record's own duration counts, not this replica's.
    let short = held_by("other_1", 2);
    assert_eq!(standing(Some(&short), Duration::from_secs(2), "me"), Standing::Expired { holder: "other_1".into() });
}

#[test]
fn a_lease_without_a_duration_expires_as_soon_as_seen() {
    let record = held_by("other_1", 0);
    assert_eq!(standing(Some(&record), Duration::ZERO, "me"), Standing::Expired { holder: "other_1".into() });
    let negative = held_by("other_1", -5);
    assert_eq!(standing(Some(&negative), Duration::ZERO, "me"), Standing::Expired { holder: "other_1".into() });
}

#[test]
fn our_own_lease_is_ours_even_when_old() {
    let record = held_by("me", 15);
    assert_eq!(standing(Some(&record), Duration::from_secs(100), "me"), Standing::Ours);
}

#[test]
fn renewing_keeps_the_acquire_time_and_transitions() {
    let now = at("2026-12-01T10:05:05.123456Z");
    let renewed = held_by("me", 15).taken_by("me", 15, now);
    assert_eq!(
        renewed,
        Record {
            holder: "me".into(),
            duration_seconds: 15,
            transitions: 3,
            acquire_time: Some(at("2026-12-01T10:00:00Z")),
            renew_time: Some(now),
        }
    );
}

#[test]
fn taking_over_counts_a_transition_and_starts_a_new_term() {
    let now = at("2026-12-01T10:06:00Z");
    let taken = held_by("other_1", 15).taken_by("me", 2, now);
    assert_eq!(
        taken,
        Record {
            holder: "me".into(),
            duration_seconds: 2,
            transitions: 4,
            acquire_time: Some(now),
            renew_time: Some(now)
        }
    );
    // Taking a released lease is a transition too.
    let released = held_by("other_1", 15).released(now);
    assert_eq!(released.taken_by("me", 15, now).transitions, 4);
}

#[test]
fn a_new_lease_has_no_transition() {
    let now = at("2026-12-01T10:06:00Z");
    assert_eq!(
        Record::created("me", 15, now),
        Record {
            holder: "me".into(),
            duration_seconds: 15,
            transitions: 0,
            acquire_time: Some(now),
            renew_time: Some(now)
        }
    );
}

#[test]
fn releasing_empties_the_holder_and_keeps_transitions() {
    let now = at("2026-12-01T10:07:00Z");
    assert_eq!(
        held_by("me", 15).released(now),
        Record {
            holder: String::new(),
            duration_seconds: 1,
            transitions: 3,
            acquire_time: Some(now),
            renew_time: Some(now)
        }
    );
}

#[test]
fn the_spec_round_trips_and_is_written_as_the_api_server_reads_it() {
    let record = Record {
        holder: "pod-a_00000000000000ff".into(),
        duration_seconds: 15,
        transitions: 2,
        acquire_time: Some(at("2026-12-01T10:00:00.5Z")),
        renew_time: Some(at("2026-12-01T10:05:00.000123Z")),
    };
    let spec = record.to_spec();
    assert_eq!(Record::from_spec(Some(&spec)), record);
    assert_eq!(
        serde_json::to_value(&spec).unwrap(),
        serde_json::json!({
            "holderIdentity": "pod-a_00000000000000ff",
            "leaseDurationSeconds": 15,
            "leaseTransitions": 2,
            "acquireTime": "2026-12-01T10:00:00.500000Z",
            "renewTime": "2026-12-01T10:05:00.000123Z"
        })
    );
}

#[test]
fn a_spec_missing_fields_reads_as_empty() {
    assert_eq!(
        Record::from_spec(None),
        Record { holder: String::new(), duration_seconds: 0, transitions: 0, acquire_time: None, renew_time: None }
    );
    assert_eq!(standing(Some(&Record::from_spec(None)), Duration::ZERO, "me"), Standing::Released);
}

#[test]
fn settings_read_the_namespace_file_first_then_pod_namespace_then_default() {
    let s = LeaseSettings::resolve("prod", Some("spire\n"), Some("other"), Some("registrar-7d9f-x2"), 0xab);
    assert_eq!(
        s,
        LeaseSettings {
            namespace: "spire".into(),
            name: "attestor-registrar-prod".into(),
            identity: "registrar-7d9f-x2_00000000000000ab".into(),
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        }
    );
    assert_eq!(LeaseSettings::resolve("prod", None, Some("ops"), Some("h"), 1).namespace, "ops");
    assert_eq!(LeaseSettings::resolve("prod", Some("  \n"), Some(""), Some("h"), 1).namespace, "default");
    assert_eq!(LeaseSettings::resolve("prod", None, None, None, 1).identity, "attestor-registrar_0000000000000001");
}

#[test]
fn defaults_match_client_go_lease_duration_and_renew_deadline() {
    let s = LeaseSettings::resolve("prod", None, None, Some("h"), 1);
    assert_eq!(s.duration_seconds(), 15);
    assert_eq!(s.renew_deadline(), Duration::from_secs(10));
    let short = LeaseSettings { duration: Duration::from_millis(2000), ..s.clone() };
    assert!(short.renew_deadline() < short.duration);
    let tiny = LeaseSettings { duration: Duration::from_millis(300), ..s };
    assert_eq!(tiny.duration_seconds(), 1);
}

#[test]
fn identities_differ_between_replicas_on_one_host() {
    let a = LeaseSettings::for_cluster("prod");
    let b = LeaseSettings::for_cluster("prod");
    assert_ne!(a.identity, b.identity);
    assert_eq!(a.name, "attestor-registrar-prod");
}

#[test]
fn lease_names_are_object_names() {
    assert_eq!(lease_name("prod"), "attestor-registrar-prod");
    assert_eq!(lease_name("Prod_EU.1"), "attestor-registrar-prod-eu.1");
    assert_eq!(lease_name("east-"), "attestor-registrar-east");
    let long = lease_name(&"a".repeat(400));
    assert_eq!(long.len(), 253);
}

#[test]
fn errors_blame_the_operator_for_rbac_and_the_api_server_otherwise() {
    let refused = |code| LeaseError::Refused { action: "renewing", lease: "spire/l".into(), code, message: "m".into() };
    assert_eq!(refused(403).fault(), Fault::Config);
    assert_eq!(refused(401).fault(), Fault::Config);
    assert_eq!(refused(500).fault(), Fault::Kubelet);
    assert_eq!(refused(500).to_string(), "renewing lease spire/l: the API server answered 500: m");
    let timeout =
        LeaseError::Timeout { action: "reading", lease: "spire/l".into(), after: Duration::from_millis(1500) };
    assert_eq!(timeout.fault(), Fault::Kubelet);
    assert_eq!(timeout.to_string(), "reading lease spire/l: no answer within 1.5s");
}

#[test]
fn jitter_adds_at_most_a_fifth() {
    for _ in 0..100 {
        let j = jittered(Duration::from_secs(5));
        assert!(j >= Duration::from_secs(5) && j < Duration::from_secs(6), "{j:?}");
    }
    assert_eq!(jittered(Duration::ZERO), Duration::ZERO);
}
