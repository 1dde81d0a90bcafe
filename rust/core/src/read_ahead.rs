//! Producing items ahead of the consumer on a thread of its own, surviving `fork`.
//!
//! A process that forks (a PyTorch DataLoader worker, say) inherits the consumer's side but
//! not the producer thread; the child notices the new process id on its next call and starts
//! a thread of its own from the position it would have read next, so neither process waits
//! forever or loses an item. A producer that is gone (it stopped after an error, or
//! panicked) is replaced the same way.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// What a producer thread runs: items from a position on, sent until the channel closes or
/// the producer decides to stop (after its last item or an error, sent first).
pub(crate) trait Produce: Clone + Send + 'static {
    type Position: Clone + Send + 'static;
    type Item: Send + 'static;
    /// The producer thread's name.
    const THREAD: &'static str;

    fn produce(&self, from: Self::Position, sender: &SyncSender<Self::Item>);
}

/// The consumer's side: up to `depth` items made ahead by a [`Produce`] job.
#[derive(Debug)]
pub(crate) struct ReadAhead<J: Produce> {
    pub job: J,
    depth: usize,
    receiver: Receiver<J::Item>,
    /// The process whose thread feeds `receiver`.
    pub owner: u32,
}

impl<J: Produce> ReadAhead<J> {
    pub fn start(job: J, from: J::Position, depth: usize) -> Self {
        let depth = depth.max(1);
        ReadAhead {
            receiver: spawn(job.clone(), from, depth),
            job,
            depth,
            owner: std::process::id(),
        }
    }

    /// The next item, waiting for it if need be. `at` is where the consumer stands: a new
    /// producer (after a fork, or for a lost one) starts there.
    pub fn next(&mut self, at: &J::Position) -> J::Item {
        if self.owner != std::process::id() {
            self.owner = std::process::id();
            self.receiver = spawn(self.job.clone(), at.clone(), self.depth);
        }
        match self.receiver.recv() {
            Ok(item) => item,
            Err(_) => {
                self.receiver = spawn(self.job.clone(), at.clone(), self.depth);
                self.receiver
                    .recv()
                    .expect("a fresh producer sends an item")
            }
        }
    }
}

fn spawn<J: Produce>(job: J, from: J::Position, depth: usize) -> Receiver<J::Item> {
    let (sender, receiver) = sync_channel(depth);
    std::thread::Builder::new()
        .name(J::THREAD.into())
        .spawn(move || job.produce(from, &sender))
        .expect("the OS starts a thread");
    receiver
}
