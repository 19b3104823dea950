//! Admission throughput and latency.
//!
//! - `returning_user_decision`: the license decision for a user already
//!   counted this month (cache lookup, clock, expiry, write-behind record),
//!   excluding the password hash. Target: under 1 µs.
//! - `new_user_durable_admission/{1,64}_callers`: new users counted and
//!   committed (SQLite, WAL, synchronous=FULL) before the call returns, with
//!   1 and 64 concurrent callers sharing group commits. Target: at least
//!   20,000/s with 64 callers.
//!
//! - `returning_user_decision_postgres`: the same on PostgreSQL (the
//!   decision never reaches the database, so the store makes no
//!   difference).
//! - `new_user_durable_admission_postgres/{1_node,3_nodes}`: the same with
//!   64 callers on PostgreSQL, spread over one or three services (nodes,
//!   each with its own connection pool) sharing one database. Runs when
//!   `GATEHOUSE_TEST_POSTGRES_URL` names a server it may create a database
//!   on.
//!
//! Run: `cargo bench -p gatehouse-core --bench admission`.

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use common::{fresh_sqlite, licensed, open, test_seal};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gatehouse_core::store::Store;
use gatehouse_core::{Gatehouse, Identity, Username};
use gatehouse_store::PgStore;
use gatehouse_testkit::fresh_postgres_database;
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A service on a fresh database file, licensed for `limit` users.
fn service(runtime: &Runtime, name: &str, limit: u32) -> Arc<Gatehouse> {
    runtime.block_on(async { licensed(open(fresh_sqlite(name).await).await, limit).await })
}

/// `nodes` services sharing a fresh PostgreSQL database, licensed for
/// `limit` users; `None` without a server.
fn postgres_nodes(
    runtime: &Runtime,
    name: &str,
    nodes: usize,
    limit: u32,
) -> Option<Vec<Arc<Gatehouse>>> {
    let server = std::env::var("GATEHOUSE_TEST_POSTGRES_URL").ok()?;
    let url = fresh_postgres_database(&server, &format!("bench_{name}"));
    Some(runtime.block_on(async {
        let mut services = Vec::with_capacity(nodes);
        for node in 0..nodes {
            let store: Arc<dyn Store> =
                Arc::new(PgStore::connect(&url, 16, test_seal()).await.unwrap());
            let gatehouse = open(store).await;
            services.push(if node == 0 {
                licensed(gatehouse, limit).await
            } else {
                Arc::new(gatehouse)
            });
        }
        services
    }))
}

fn identity(index: u64) -> Identity {
    let name = format!("user{index:09}");
    Identity::local(&Username::parse(&name).unwrap(), &name)
}

fn returning_user_decision(c: &mut Criterion) {
    let runtime = runtime();
    let sqlite = service(&runtime, "returning", 1_000_000);
    returning_users(c, &runtime, &sqlite, "returning_user_decision");
    if let Some(nodes) = postgres_nodes(&runtime, "returning", 1, 1_000_000) {
        returning_users(c, &runtime, &nodes[0], "returning_user_decision_postgres");
    }
}

/// The decision for users already counted, on `gatehouse`'s store.
fn returning_users(c: &mut Criterion, runtime: &Runtime, gatehouse: &Gatehouse, name: &str) {
    let users: Vec<Identity> = (0..1000).map(identity).collect();
    runtime.block_on(async {
        for user in &users {
            gatehouse.admit(user, "bench").await.unwrap();
        }
    });
    let mut next = 0;
    c.bench_function(name, |b| {
        b.iter(|| {
            let user = &users[next % users.len()];
            next += 1;
            // The returning-user path never waits: one poll completes it.
            let mut future = pin!(gatehouse.admit(black_box(user), "bench"));
            match future
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
            {
                Poll::Ready(result) => black_box(result.unwrap()),
                Poll::Pending => panic!("a returning user must be answered without waiting"),
            }
        })
    });
}

fn new_user_durable_admission(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("new_user_durable_admission");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for callers in [1u64, 64] {
        let gatehouse = service(&runtime, &format!("new-{callers}"), u32::MAX);
        group.bench_function(format!("{callers}_callers"), |b| {
            b.iter_custom(|iterations| {
                admit_new_users(
                    &runtime,
                    std::slice::from_ref(&gatehouse),
                    callers,
                    iterations,
                )
            })
        });
    }
    group.finish();
    let mut group = c.benchmark_group("new_user_durable_admission_postgres");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for nodes in [1usize, 3] {
        let Some(services) = postgres_nodes(&runtime, &format!("{nodes}_nodes"), nodes, u32::MAX)
        else {
            eprintln!(
                "new_user_durable_admission_postgres: set GATEHOUSE_TEST_POSTGRES_URL to run it"
            );
            break;
        };
        let name = if nodes == 1 {
            "1_node".to_string()
        } else {
            format!("{nodes}_nodes")
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| admit_new_users(&runtime, &services, 64, iterations))
        });
    }
    group.finish();
}

/// `callers` tasks admitting new users until `iterations` are counted,
/// caller `i` through `services[i % len]`; the time per admission.
fn admit_new_users(
    runtime: &Runtime,
    services: &[Arc<Gatehouse>],
    callers: u64,
    iterations: u64,
) -> Duration {
    static NEXT_USER: AtomicU64 = AtomicU64::new(0);
    let per_caller = iterations.div_ceil(callers);
    let start = Instant::now();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..callers)
            .map(|caller| {
                let gatehouse = services[caller as usize % services.len()].clone();
                tokio::spawn(async move {
                    for _ in 0..per_caller {
                        let user = identity(NEXT_USER.fetch_add(1, Ordering::Relaxed));
                        let admitted = gatehouse.admit(&user, "bench").await.unwrap();
                        assert!(admitted.newly_counted);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    // Report per admission actually made.
    start
        .elapsed()
        .mul_f64(iterations as f64 / (per_caller * callers) as f64)
}

criterion_group!(benches, returning_user_decision, new_user_durable_admission);
criterion_main!(benches);
