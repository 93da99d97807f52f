use std::time::Duration;

use http::Method;
use http::header::{ALLOW, CONTENT_TYPE};

use super::{Metrics, MetricsError, respond};
use crate::fault::Fault;

/// The whole exposition for a small set of values.
#[test]
fn render_is_the_exact_text_format() {
    let m = Metrics::new();
    m.set_entries_owned(12);
    m.add_changes(3, 2, 1);
    m.add_changes(1, 0, 0);
    m.add_refused("update", 2);
    m.observe_reconcile(Duration::from_millis(300));
    m.observe_reconcile(Duration::from_millis(1500));
    m.add_error("entry_api");
    m.add_error("entry_api");
    m.add_entry_api_calls("ListEntries", 4);
    m.add_entry_api_calls("BatchCreateEntry", 1);
    m.add_watch_errors("pods", 2);
    m.add_watch_errors("nodes", 1);
    m.set_leader(true);
    m.set_pods(40);
    m.set_rules_needing_process(1);
    let expected = r#"# HELP attestor_registrar_entries_owned Registration entries under the entry ID prefix after the last reconciliation.
# TYPE attestor_registrar_entries_owned gauge
attestor_registrar_entries_owned 12
# HELP attestor_registrar_entries_created_total Registration entries created.
# TYPE attestor_registrar_entries_created_total counter
attestor_registrar_entries_created_total 4
# HELP attestor_registrar_entries_updated_total Registration entries updated.
# TYPE attestor_registrar_entries_updated_total counter
attestor_registrar_entries_updated_total 2
# HELP attestor_registrar_entries_deleted_total Registration entries deleted.
# TYPE attestor_registrar_entries_deleted_total counter
attestor_registrar_entries_deleted_total 1
# HELP attestor_registrar_entries_refused_total Changes SPIRE server refused, by action.
# TYPE attestor_registrar_entries_refused_total counter
attestor_registrar_entries_refused_total{action="create"} 0
attestor_registrar_entries_refused_total{action="delete"} 0
attestor_registrar_entries_refused_total{action="update"} 2
# HELP attestor_registrar_reconcile_duration_seconds How long reconciliations took.
# TYPE attestor_registrar_reconcile_duration_seconds histogram
attestor_registrar_reconcile_duration_seconds_bucket{le="0.005"} 0
attestor_registrar_reconcile_duration_seconds_bucket{le="0.01"} 0
attestor_registrar_reconcile_duration_seconds_bucket{le="0.025"} 0
attestor_registrar_reconcile_duration_seconds_bucket{le="0.05"} 0
attestor_registrar_reconcile_duration_seconds_bucket{le="0.1"} 0
attestor_registrar_reconcile_duration_seconds_bucket{le="0.25"} 0
attestor_registrar_reconcile_duration_seconds_bucket{le="0.5"} 1
attestor_registrar_reconcile_duration_seconds_bucket{le="1"} 1
attestor_registrar_reconcile_duration_seconds_bucket{le="2.5"} 2
attestor_registrar_reconcile_duration_seconds_bucket{le="5"} 2
attestor_registrar_reconcile_duration_seconds_bucket{le="10"} 2
attestor_registrar_reconcile_duration_seconds_bucket{le="30"} 2
attestor_registrar_reconcile_duration_seconds_bucket{le="60"} 2
attestor_registrar_reconcile_duration_seconds_bucket{le="300"} 2
attestor_registrar_reconcile_duration_seconds_bucket{le="+Inf"} 2
attestor_registrar_reconcile_duration_seconds_sum 1.8
attestor_registrar_reconcile_duration_seconds_count 2
# HELP attestor_registrar_errors_total Failures, by kind.
# TYPE attestor_registrar_errors_total counter
attestor_registrar_errors_total{kind="entry_api"} 2
attestor_registrar_errors_total{kind="kubernetes"} 0
attestor_registrar_errors_total{kind="policy"} 0
# HELP attestor_registrar_entry_api_calls_total Entry API calls, by method.
# TYPE attestor_registrar_entry_api_calls_total counter
attestor_registrar_entry_api_calls_total{method="BatchCreateEntry"} 1
attestor_registrar_entry_api_calls_total{method="BatchDeleteEntry"} 0
attestor_registrar_entry_api_calls_total{method="BatchUpdateEntry"} 0
attestor_registrar_entry_api_calls_total{method="ListEntries"} 4
# HELP attestor_registrar_watch_errors_total Kubernetes watch errors, by resource.
# TYPE attestor_registrar_watch_errors_total counter
attestor_registrar_watch_errors_total{resource="nodes"} 1
attestor_registrar_watch_errors_total{resource="pods"} 2
# HELP attestor_registrar_leader 1 when this replica holds the lease, else 0.
# TYPE attestor_registrar_leader gauge
attestor_registrar_leader 1
# HELP attestor_registrar_ready 1 when this replica is ready, else 0.
# TYPE attestor_registrar_ready gauge
attestor_registrar_ready 0
# HELP attestor_registrar_pods Pods seen.
# TYPE attestor_registrar_pods gauge
attestor_registrar_pods 40
# HELP attestor_registrar_rules_needing_process Identity rules whose SPIFFE ID template needs a fact only a running process has.
# TYPE attestor_registrar_rules_needing_process gauge
attestor_registrar_rules_needing_process 1
"#;
    assert_eq!(m.render(), expected);
}

/// Gauges are set, not added; flags go back to 0.
#[test]
fn gauges_hold_the_last_value() {
    let m = Metrics::new();
    m.set_entries_owned(5);
    m.set_entries_owned(3);
    m.set_leader(true);
    m.set_leader(false);
    m.set_ready(true);
    let text = m.render();
    assert!(text.contains("\nattestor_registrar_entries_owned 3\n"), "{text}");
    assert!(text.contains("\nattestor_registrar_leader 0\n"), "{text}");
    assert!(text.contains("\nattestor_registrar_ready 1\n"), "{text}");
}

/// A label value's backslash, double quote and newline are escaped; other text is kept.
#[test]
fn label_values_are_escaped() {
    let m = Metrics::new();
    m.add_watch_errors("a\\b\"c\nd é", 7);
    let text = m.render();
    assert!(text.contains("\nattestor_registrar_watch_errors_total{resource=\"a\\\\b\\\"c\\nd é\"} 7\n"), "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("attestor_registrar_watch_errors_total")).count(), 1);
}

/// `# HELP` text escapes backslash and newline (and not the double quote).
#[test]
fn help_text_is_escaped() {
    let mut out = String::new();
    super::header(&mut out, "x", "a\\b\nc \"d\"", "gauge");
    assert_eq!(out, "# HELP attestor_registrar_x a\\\\b\\nc \"d\"\n# TYPE attestor_registrar_x gauge\n");
}

/// Bounds are inclusive (`le`), buckets cumulative, the slowest rounds only in `+Inf`,
/// `_count` equals `+Inf`, and `_sum` saturates rather than wrap.
#[test]
fn histogram_buckets_are_cumulative_with_inf_sum_and_count() {
    let m = Metrics::new();
    m.observe_reconcile(Duration::ZERO);
    m.observe_reconcile(Duration::from_millis(5));
    m.observe_reconcile(Duration::from_nanos(5_000_001));
    m.observe_reconcile(Duration::from_secs(300));
    m.observe_reconcile(Duration::from_secs(301));
    m.observe_reconcile(Duration::from_secs(u64::MAX / 1_000_000_000 + 1));
    let text = m.render();
    let samples: Vec<&str> =
        text.lines().filter(|l| l.starts_with("attestor_registrar_reconcile_duration_seconds_")).collect();
    assert_eq!(
        samples,
        [
            "attestor_registrar_reconcile_duration_seconds_bucket{le=\"0.005\"} 2",
            "attestor_registrar_reconcile_duration_seconds_bucket{le=\"0.01\"} 3",
            "attestor_registrar_reconcile_duration_seconds_bucket{le=\"0.025\"} 3",
            "attestor_registrar_reconcile_duration_seconds_bucket{le=\"0.05\"} 3",
            "attestor_registrar_reconcile_duration_seconds_bucket{le=\"0.1\"} 3",
            "attestor_registrar_reconcile_duration_seconds_bucket{le=\"0.25\"} 3",
            "attestor_registrar_reconcile_duration_seconds_bucket{le=\"0.5\"} 3",
            "attestor_registrar_reconcile_duration_seconds_bucket{le=\"1\"} 3",
            "attestor_registrar_reconcile_duration_seconds_bucket{le=\"2.5\"} 3",
            "attestor_registrar_reconcile_duration_seconds_bucket{le=\"5\"} 3",
            "attestor_registrar_reconcile_duration_seconds_bucket{le=\"10\"} 3",
            "attestor_registrar_reconcile_duration_seconds_bucket{le=\"30\"} 3",
            "attestor_registrar_reconcile_duration_seconds_bucket{le=\"60\"} 3",
            "attestor_registrar_reconcile_duration_seconds_bucket{le=\"300\"} 4",
            "attestor_registrar_reconcile_duration_seconds_bucket{le=\"+Inf\"} 6",
            // The last one is more nanoseconds than a u64 holds: the sum saturates.
            "attestor_registrar_reconcile_duration_seconds_sum 18446744073.709553",
            "attestor_registrar_reconcile_duration_seconds_count 6",
        ]
    );
}

/// The bucket bounds are increasing, and each `le` text is the bound in seconds.
#[test]
fn bucket_bounds_are_increasing_and_written_as_their_value() {
    let bounds = super::RECONCILE_BUCKETS;
    for w in bounds.windows(2) {
        assert!(w[0].1 < w[1].1, "{:?} then {:?}", w[0], w[1]);
    }
    for (le, nanos) in bounds {
        let seconds: f64 = le.parse().unwrap();
        assert_eq!((seconds * 1e9).round() as u64, nanos, "{le}");
        assert_eq!(format!("{}", nanos as f64 / 1e9), le);
    }
}

/// Counters from many threads at once lose nothing, new label values included.
#[test]
fn concurrent_adds_are_all_counted() {
    let m = Metrics::new();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..1000 {
                    m.add_changes(1, 0, 0);
                    m.add_watch_errors("pods", 1);
                    m.add_watch_errors("namespaces", 1);
                }
            });
        }
    });
    let text = m.render();
    assert!(text.contains("\nattestor_registrar_entries_created_total 8000\n"), "{text}");
    assert!(text.contains("\nattestor_registrar_watch_errors_total{resource=\"namespaces\"} 8000\n"), "{text}");
    assert!(text.contains("\nattestor_registrar_watch_errors_total{resource=\"pods\"} 8000\n"), "{text}");
}

#[test]
fn readyz_follows_ready_and_other_answers() {
    let m = Metrics::new();
    let answer = |method: Method, path: &str| {
        let r = respond(&m, &method, path);
        let ct = r.headers().get(CONTENT_TYPE).unwrap().to_str().unwrap().to_owned();
        let allow = r.headers().get(ALLOW).map(|v| v.to_str().unwrap().to_owned());
        (r.status().as_u16(), ct, allow, r.into_body())
    };
    let text = "text/plain; charset=utf-8";
    assert_eq!(answer(Method::GET, "/readyz"), (503, text.into(), None, "not ready".into()));
    m.set_ready(true);
    assert_eq!(answer(Method::GET, "/readyz"), (200, text.into(), None, "ok".into()));
    assert_eq!(answer(Method::HEAD, "/healthz"), (200, text.into(), None, "ok".into()));
    assert_eq!(answer(Method::GET, "/"), (404, text.into(), None, "not found".into()));
    assert_eq!(answer(Method::GET, "/metrics/"), (404, text.into(), None, "not found".into()));
    assert_eq!(
        answer(Method::POST, "/metrics"),
        (405, text.into(), Some("GET, HEAD".into()), "method not allowed".into())
    );
    let (status, ct, _, body) = answer(Method::GET, "/metrics");
    assert_eq!((status, ct.as_str()), (200, "text/plain; version=0.0.4; charset=utf-8"));
    assert_eq!(body, m.render());
}

#[test]
fn a_bind_error_names_the_address_and_is_the_operators() {
    let addr = "192.0.2.1:9".parse().unwrap();
    let e = MetricsError::Bind { addr, source: std::io::Error::from(std::io::ErrorKind::AddrNotAvailable) };
    assert_eq!(e.to_string(), "cannot serve metrics on 192.0.2.1:9 (registrar.metrics_addr): address not available");
    assert_eq!(e.fault(), Fault::Config);
}
