//! A few long-lived threads that do every password hash and verification.
//!
//! argon2id takes 19 MiB per computation. Run on tokio's blocking pool, each of its
//! (up to hundreds of) threads kept such a block in its own allocator arena once it had
//! hashed, so memory under login load reached hundreds of MiB. With one thread per core
//! the blocks are reused, and a burst of logins queues here instead of thrashing caches.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

pub struct PasswordThreads {
    jobs: Sender<Job>,
}

impl PasswordThreads {
    /// Starts `count` threads; they end when this is dropped.
    pub fn start(count: usize) -> std::io::Result<PasswordThreads> {
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..count.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("pfid-password-{i}"))
                .spawn(move || work(&queue))?;
        }
        Ok(PasswordThreads { jobs })
    }

    /// Runs `job` on one of the threads and waits for its answer without blocking the
    /// caller's thread.
    pub async fn run<T, F>(&self, job: F) -> Result<T, String>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = answer.send(job());
            }))
            .map_err(|_| "the password threads have stopped".to_owned())?;
        answered
            .await
            .map_err(|_| "a password job failed".to_owned())
    }
}

fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        let next = match queue.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(job) = next else { return };
        // A panicking job drops its answer channel (the caller sees an error); the
        // thread lives on for the next one.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
    }
}
