//! [`WorkerPool`]: the threads the transform chain runs on, shared by every run that uses the
//! pool (by default, every run in the process).

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, mpsc};

/// The stack of a transform worker thread: room for the deepest expression a transform accepts
/// (evaluating one in the CEL interpreter takes up to 40 kB per level in a debug build) with a
/// wide margin. Only the pages used are committed.
pub(crate) const TRANSFORM_STACK: usize = 16 * 1024 * 1024;

/// Work for a worker thread. It catches its own panics (the chain reports them as the run's
/// failure); the worker catches any that escape, so that it lives on for the next job.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// The worker threads the transform chain runs on: long-lived threads taking jobs (a batch to
/// transform) from one first-in, first-out queue shared by every run on the pool.
///
/// [`WorkerPool::global`] (what [`RunOptions`](crate::RunOptions) uses by default) is sized to
/// the cores, [`std::thread::available_parallelism`]; [`WorkerPool::new`] makes a pool of another
/// size, for the runs given it. Threads start with the first batch that needs one and keep their
/// caches and allocator pages from batch to batch; however many runs share a pool, it has at
/// most its size in threads (50 runs on 32 cores use 32 threads, not 1,600). Each run keeps at
/// most two batches per thread queued (one at a time for a chain with
/// [`is_ordered`](crate::Transform::is_ordered) transforms), and the queue serves batches in the
/// order they came, so no run waits for another's whole backlog. The global pool's threads live
/// as long as the process; another pool's end when its last handle (the runs using it
/// included) is dropped. Cloning gives another handle to the same threads.
#[derive(Clone)]
pub struct WorkerPool {
    shared: Arc<Shared>,
}

struct Shared {
    threads: usize,
    /// The queue, made when the first job comes; `None` when no thread could be started.
    queue: OnceLock<Option<mpsc::Sender<Job>>>,
}

impl std::fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPool")
            .field("threads", &self.shared.threads)
            .field("started", &self.shared.queue.get().is_some())
            .finish()
    }
}

impl Default for WorkerPool {
    fn default() -> Self {
        Self::global()
    }
}

impl WorkerPool {
    /// A pool of `threads` worker threads (at least one), started with its first batch.
    pub fn new(threads: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                threads: threads.max(1),
                queue: OnceLock::new(),
            }),
        }
    }

    /// The process's pool, one thread per core, shared by every run that does not get another.
    pub fn global() -> Self {
        static GLOBAL: OnceLock<WorkerPool> = OnceLock::new();
        GLOBAL
            .get_or_init(|| {
                let cores = std::thread::available_parallelism().map_or(2, usize::from);
                WorkerPool::new(cores)
            })
            .clone()
    }

    /// The number of worker threads.
    pub fn threads(&self) -> usize {
        self.shared.threads
    }

    /// Queues `job`, starting the threads on first use; gives the job back when no worker
    /// thread could be started.
    pub(crate) fn submit(&self, job: Job) -> Result<(), Job> {
        let queue = self.shared.queue.get_or_init(|| start(self.shared.threads));
        match queue {
            Some(queue) => queue.send(job).map_err(|mpsc::SendError(job)| job),
            None => Err(job),
        }
    }
}

/// Starts `threads` workers on one queue; `None` when not one could be started.
fn start(threads: usize) -> Option<mpsc::Sender<Job>> {
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    let mut started = 0;
    for i in 0..threads {
        let queue = queue.clone();
        let worker = move || {
            loop {
                // Taking the next job is the only thing done under the lock.
                let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                let Ok(job) = job else {
                    // Every handle to the pool is gone.
                    break;
                };
                // A job reports its own panics; this only keeps the thread alive.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
            }
        };
        let spawned = std::thread::Builder::new()
            .name(format!("dataforge-transform-{i}"))
            .stack_size(TRANSFORM_STACK)
            .spawn(worker);
        match spawned {
            Ok(_) => started += 1,
            Err(e) => tracing::warn!(error = %e, "could not start a transform worker thread"),
        }
    }
    (started > 0).then_some(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_on_at_most_the_pools_threads_and_survive_panics() {
        let pool = WorkerPool::new(2);
        let (tx, rx) = mpsc::channel();
        for i in 0..20 {
            let tx = tx.clone();
            let job: Job = Box::new(move || {
                if i == 3 {
                    panic!("job {i} panics");
                }
                // The receiver outlives the jobs.
                let _ = tx.send(std::thread::current().id());
            });
            assert!(pool.submit(job).is_ok());
        }
        drop(tx);
        let threads: std::collections::HashSet<_> = rx.iter().collect();
        assert!(threads.len() <= 2, "{} threads", threads.len());
        assert_eq!(pool.threads(), 2);
        assert_eq!(WorkerPool::new(0).threads(), 1);
    }
}
