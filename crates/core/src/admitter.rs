//! Group commit for new users.
//!
//! Every new user must be durably counted before they are accepted, and a
//! durable commit costs an fsync. Instead of one transaction per user, one
//! task owns admissions: it takes every request waiting in its queue (up to
//! [`MAX_BATCH`]), asks the store to count them in one transaction, and
//! answers each caller. While one batch commits, the next one gathers, so
//! the batch size follows the load without any added delay.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::{AdmitOutcome, AdmitRequest, Store, StoreError, StoreResult};

/// Most requests committed together.
pub const MAX_BATCH: usize = 256;

/// Requests that may wait for the writer before callers are slowed down.
const QUEUE_DEPTH: usize = 4096;

struct Job {
    request: AdmitRequest,
    reply: oneshot::Sender<StoreResult<AdmitOutcome>>,
}

/// Handle to the admission writer task. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Admitter {
    queue: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.request.fmt(f)
    }
}

impl Admitter {
    /// Starts the writer. It ends when every handle is dropped.
    pub fn spawn(store: Arc<dyn Store>) -> (Admitter, JoinHandle<()>) {
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        let writer = tokio::spawn(write_batches(store, jobs));
        (Admitter { queue }, writer)
    }

    /// Counts one user (or finds them counted). Returns only after the
    /// batch holding this request has committed.
    pub async fn admit(&self, request: AdmitRequest) -> StoreResult<AdmitOutcome> {
        let (reply, answer) = oneshot::channel();
        let gone = || StoreError::Unavailable("the admission writer has stopped".into());
        self.queue
            .send(Job { request, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn write_batches(store: Arc<dyn Store>, mut jobs: mpsc::Receiver<Job>) {
    let mut requests = Vec::with_capacity(MAX_BATCH);
    let mut replies = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = jobs.recv().await {
        requests.push(first.request);
        replies.push(first.reply);
        while requests.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => {
                    requests.push(job.request);
                    replies.push(job.reply);
                }
                Err(_) => break,
            }
        }
        let result = store.admit(&requests).await;
        match result {
            Ok(outcomes) if outcomes.len() == replies.len() => {
                for (reply, outcome) in replies.drain(..).zip(outcomes) {
                    // A caller that gave up still got counted; that is safe.
                    let _ = reply.send(Ok(outcome));
                }
            }
            Ok(outcomes) => {
                let error = StoreError::Corrupt(format!(
                    "store answered {} admissions for {} requests",
                    outcomes.len(),
                    replies.len()
                ));
                for reply in replies.drain(..) {
                    let _ = reply.send(Err(error.clone()));
                }
            }
            Err(error) => {
                tracing::error!(%error, batch = requests.len(), "admission batch failed; nobody in it was accepted");
                for reply in replies.drain(..) {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
        requests.clear();
    }
}
