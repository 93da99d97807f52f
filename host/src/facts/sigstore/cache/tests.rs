use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn a_success_is_computed_once_and_then_read() {
    let cache = VerdictCache::new(HOUR, Duration::from_secs(5), 10);
    let runs = AtomicUsize::new(0);
    for _ in 0..3 {
        let v = cache
            .get_or_run("img", || async {
                runs.fetch_add(1, Ordering::SeqCst);
                (7, true)
            })
            .await;
        assert_eq!(*v, 7);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(cache.get_now("img").as_deref(), Some(&7));
    assert_eq!(cache.get_now("other"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_computation() {
    let cache = Arc::new(VerdictCache::new(HOUR, Duration::from_secs(5), 10));
    let runs = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (cache, runs) = (Arc::clone(&cache), Arc::clone(&runs));
        tasks.push(tokio::spawn(async move {
            *cache
                .get_or_run("img", || async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    (1, true)
                })
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 1);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_failure_is_kept_briefly_then_computed_again() {
    let cache = VerdictCache::new(HOUR, Duration::from_millis(30), 10);
    let runs = AtomicUsize::new(0);
    let run = || async {
        runs.fetch_add(1, Ordering::SeqCst);
        (0, false)
    };
    cache.get_or_run("img", run).await;
    cache.get_or_run("img", run).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "a failure is reused while fresh");
    tokio::time::sleep(Duration::from_millis(40)).await;
    assert_eq!(cache.get_now("img"), None, "an expired failure is not answered");
    cache.get_or_run("img", run).await;
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[test]
fn the_failure_ttl_never_exceeds_the_success_ttl() {
    let cache = VerdictCache::<u8>::new(Duration::from_secs(1), Duration::from_secs(5), 1);
    assert_eq!(cache.failure_ttl, Duration::from_secs(1));
}

#[tokio::test]
async fn the_oldest_key_is_evicted_beyond_the_bound() {
    let cache = VerdictCache::new(HOUR, HOUR, 3);
    for i in 0..5u32 {
        cache.get_or_run(&format!("img{i}"), || async move { (i, true) }).await;
    }
    assert_eq!(cache.len(), 3);
    assert_eq!(cache.get_now("img0"), None);
    assert_eq!(cache.get_now("img1"), None);
    assert_eq!(cache.get_now("img4").as_deref(), Some(&4));
}

#[tokio::test]
async fn replaced_keys_do_not_grow_the_queue_without_bound() {
    let cache = VerdictCache::new(Duration::from_millis(1), Duration::from_millis(1), 2);
    for i in 0..200u32 {
        tokio::time::sleep(Duration::from_millis(2)).await;
        cache.get_or_run("a", || async move { (i, true) }).await;
        cache.get_or_run("b", || async move { (i, true) }).await;
        cache.get_or_run(&format!("c{i}"), || async move { (i, true) }).await;
    }
    let inner = cache.lock();
    assert!(inner.slots.len() <= 2);
    assert!(inner.order.len() <= 8, "queue holds {} entries", inner.order.len());
}

#[tokio::test]
async fn a_cancelled_computation_is_taken_over_by_the_next_caller() {
    let cache = Arc::new(VerdictCache::new(HOUR, HOUR, 4));
    let slow = {
        let cache = Arc::clone(&cache);
        tokio::spawn(async move {
            cache
                .get_or_run("img", || async {
                    tokio::time::sleep(HOUR).await;
                    (0, true)
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    slow.abort();
    let _ = slow.await;
    let v = tokio::time::timeout(Duration::from_secs(5), cache.get_or_run("img", || async { (9, true) })).await;
    assert_eq!(v.ok().as_deref(), Some(&9));
}
