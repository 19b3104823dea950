//! Policy evaluation over the in-memory snapshot.
//!
//! - `policy_evaluation/last_of_100`: 100 policies, each for its own
//!   client and group with two reply attributes; the user (in 5 groups) is
//!   matched by the last one, so every policy is looked at. Target: under
//!   1 µs.
//! - `policy_evaluation/none_of_100`: the same list, a client no policy
//!   names.
//!
//! Run: `cargo bench -p gatehouse-core --bench policy`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_core::policy::{Access, Policy, PolicyRequest, PolicySet, ReplyAttribute, group_key};

fn policies() -> PolicySet {
    PolicySet::new(
        (0..100)
            .map(|i| Policy {
                name: format!("policy {i}"),
                clients: vec![format!("nas-{i}")],
                groups: vec![format!("corp:CN=Group {i},OU=Groups,DC=example,DC=com")],
                networks: vec![],
                access: Access::Allow,
                factors: None,
                reply: vec![
                    ReplyAttribute {
                        attribute: "Fortinet-Group-Name".into(),
                        value: "%{group}".into(),
                    },
                    ReplyAttribute {
                        attribute: "Class".into(),
                        value: "gatehouse".into(),
                    },
                ],
            })
            .collect(),
    )
    .unwrap()
}

fn policy_evaluation(c: &mut Criterion) {
    let set = policies();
    let groups: Vec<String> = [95, 96, 97, 98, 99]
        .iter()
        .map(|i| group_key(&format!("corp:CN=Group {i},OU=Groups,DC=example,DC=com")).unwrap())
        .collect();
    let mut group = c.benchmark_group("policy_evaluation");
    group.bench_function("last_of_100", |b| {
        b.iter(|| {
            let request = PolicyRequest {
                user: "alice",
                client: black_box("nas-99"),
                groups: black_box(&groups),
                calling_station: None,
            };
            let matched = set.evaluate(&request).unwrap();
            black_box(matched.policy.name.len())
        })
    });
    group.bench_function("none_of_100", |b| {
        b.iter(|| {
            let request = PolicyRequest {
                user: "alice",
                client: black_box("nas-unknown"),
                groups: black_box(&groups),
                calling_station: None,
            };
            black_box(set.evaluate(&request).is_none())
        })
    });
    group.finish();
}

criterion_group!(benches, policy_evaluation);
criterion_main!(benches);
