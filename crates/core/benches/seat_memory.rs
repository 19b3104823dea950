//! Memory of a month with many counted users: a service on SQLite counts
//! `USERS` (default 1,000,000) directory users (seat keys of a 36-character
//! entryUUID, the longest common form), 64 callers at a time, then every
//! one of them logs in again, `RATE` a second (default 30,000, about what
//! the RADIUS path serves on 2 cores; answered from the seat cache, last
//! logins written behind every second as `serve` does). Prints the process's resident memory
//! before, after counting, after the returning pass, and its peak.
//! Target: under 200 MB with 1,000,000 users counted.
//!
//! Run: `cargo bench -p gatehouse-core --bench seat_memory`
//! (`USERS=100000` for a shorter run).

#[path = "common/mod.rs"]
mod common;

use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use common::{fresh_sqlite, licensed, open};
use gatehouse_core::metrics::ProcessStats;
use gatehouse_core::{Gatehouse, Identity, SeatKey, Source};

const CALLERS: u64 = 64;

fn main() {
    // `cargo bench` passes `--bench`; a filter naming another bench skips this one.
    if std::env::args()
        .skip(1)
        .any(|arg| !arg.starts_with("--") && !"seat_memory".contains(arg.as_str()))
    {
        return;
    }
    let users: u64 = std::env::var("USERS").map_or(1_000_000, |v| v.parse().expect("USERS"));
    let rate: u64 = std::env::var("RATE").map_or(30_000, |v| v.parse().expect("RATE"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let gatehouse = runtime.block_on(async {
        licensed(open(fresh_sqlite("seat_memory").await).await, u32::MAX).await
    });
    let before = stats("service open, licensed");

    let start = Instant::now();
    runtime.block_on(each_user(&gatehouse, 0..users, true));
    let counting = start.elapsed();
    stats(&format!(
        "{users} users counted ({:.0} s, {:.0}/s)",
        counting.as_secs_f64(),
        users as f64 / counting.as_secs_f64()
    ));
    let start = Instant::now();
    runtime.block_on(async {
        // Last logins are written behind every second, as `serve`'s tick
        // does, while every user returns at RATE a second.
        let flusher = {
            let gatehouse = gatehouse.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Gatehouse::TICK).await;
                    gatehouse.flush().await.unwrap();
                }
            })
        };
        let mut second = tokio::time::interval(std::time::Duration::from_secs(1));
        for first in (0..users).step_by(rate as usize) {
            second.tick().await;
            each_user(&gatehouse, first..(first + rate).min(users), false).await;
        }
        flusher.abort();
        gatehouse.flush().await.unwrap();
    });
    let returning = stats(&format!(
        "every one returned at {rate}/s, last logins written ({:.0} s)",
        start.elapsed().as_secs_f64()
    ));
    let (month, count) = runtime.block_on(async {
        let view = gatehouse.license_view().await.unwrap();
        (view.month.to_string(), view.active_users)
    });
    assert_eq!(u64::from(count), users, "every user counted once");
    println!(
        "\n{month}: {count} counted; resident {} MiB (peak {} MiB), {} bytes per counted user over the start",
        mib(returning.resident_bytes),
        mib(returning.resident_peak_bytes),
        (returning
            .resident_bytes
            .saturating_sub(before.resident_bytes))
            / users.max(1),
    );
}

/// A directory user as an entryUUID names them.
fn identity(index: u64) -> Identity {
    let uuid = format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        index as u32,
        (index >> 32) as u16,
        index % 0xfff,
        (index * 7) % 0xfff,
        index * 2_654_435_761
    );
    let name = format!("user{index:07}");
    Identity {
        seat: SeatKey::directory(&uuid),
        username: name.as_str().into(),
        display_name: format!("User {index}").into(),
        source: Source::Directory,
    }
}

/// Admits `users`, `CALLERS` at a time; `new`: each must be newly
/// counted, else each must already be.
async fn each_user(gatehouse: &Arc<Gatehouse>, users: Range<u64>, new: bool) {
    let tasks: Vec<_> = (0..CALLERS)
        .map(|caller| {
            let gatehouse = gatehouse.clone();
            let users = users.clone();
            tokio::spawn(async move {
                for index in (users.start + caller..users.end).step_by(CALLERS as usize) {
                    let admitted = gatehouse.admit(&identity(index), "bench").await.unwrap();
                    assert_eq!(admitted.newly_counted, new, "user {index}");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

fn stats(what: &str) -> ProcessStats {
    let stats = ProcessStats::read().expect("/proc/self");
    // Anonymous memory (the heap) apart from mapped files.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |field: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.trim().trim_end_matches(" kB").parse::<u64>().ok())
            .unwrap_or(0)
    };
    println!(
        "{what:<60} resident {:>5} MiB (anonymous {:>5} MiB)  peak {:>5} MiB",
        mib(stats.resident_bytes),
        kib("RssAnon:") / 1024,
        mib(stats.resident_peak_bytes)
    );
    stats
}

fn mib(bytes: u64) -> u64 {
    bytes / (1024 * 1024)
}
