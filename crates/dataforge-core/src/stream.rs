//! Batches and the bounded channels that join stages.
//!
//! A stream ends in one of two ways: cleanly, when the sending stage calls
//! [`BatchSender::finish`], or aborted, when the sender is dropped without finishing (its stage
//! failed) or the run is cancelled. A destination commits only on a clean end.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::ComponentError;
use crate::value::Record;

/// A batch of records: the unit that flows between stages.
pub type Batch = Vec<Record>;

enum Message {
    Batch(Batch),
    End,
}

/// Creates a bounded channel holding at most `capacity` batches in flight.
pub fn channel(capacity: usize, cancel: CancellationToken) -> (BatchSender, BatchReceiver) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let rows = Arc::new(AtomicU64::new(0));
    (
        BatchSender {
            tx,
            rows: rows.clone(),
            cancel: cancel.clone(),
        },
        BatchReceiver {
            rx,
            rows,
            cancel,
            ended: false,
        },
    )
}

/// The sending half: a source or a transform stage pushes batches here.
///
/// `send` waits while the channel is full, so a slow destination slows the source.
pub struct BatchSender {
    tx: mpsc::Sender<Message>,
    rows: Arc<AtomicU64>,
    cancel: CancellationToken,
}

impl BatchSender {
    /// Sends one batch (empty batches are dropped), waiting for room.
    ///
    /// # Errors
    /// Fails when the receiving stage has stopped or the run was cancelled; the caller should
    /// return that error, which the runner reports as secondary.
    pub async fn send(&self, batch: Batch) -> Result<(), ComponentError> {
        if batch.is_empty() {
            return Ok(());
        }
        let n = batch.len() as u64;
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(ComponentError::upstream_aborted()),
            sent = self.tx.send(Message::Batch(batch)) => {
                sent.map_err(|_| ComponentError::downstream_closed())?;
                self.rows.fetch_add(n, Ordering::Relaxed);
                Ok(())
            }
        }
    }

    /// Sends one batch from a blocking thread (for sources that read files synchronously).
    ///
    /// # Errors
    /// As [`BatchSender::send`].
    pub fn blocking_send(&self, batch: Batch) -> Result<(), ComponentError> {
        if batch.is_empty() {
            return Ok(());
        }
        if self.cancel.is_cancelled() {
            return Err(ComponentError::upstream_aborted());
        }
        let n = batch.len() as u64;
        self.tx
            .blocking_send(Message::Batch(batch))
            .map_err(|_| ComponentError::downstream_closed())?;
        self.rows.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    /// Rows sent so far.
    pub fn rows_sent(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    /// True once the run is cancelled: long loops should check it and return.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Marks the stream as complete: the receiver sees a clean end.
    pub async fn finish(self) {
        // A closed receiver has already stopped: nothing to tell it.
        let _ = self.tx.send(Message::End).await;
    }
}

/// The receiving half: a transform stage or a destination reads batches here.
pub struct BatchReceiver {
    rx: mpsc::Receiver<Message>,
    rows: Arc<AtomicU64>,
    cancel: CancellationToken,
    ended: bool,
}

impl BatchReceiver {
    /// The next batch; `Ok(None)` at a clean end of the stream.
    ///
    /// # Errors
    /// Returns [`ComponentError::upstream_aborted`] when the previous stage failed or the run
    /// was cancelled: a destination must then roll back and return that error.
    pub async fn recv(&mut self) -> Result<Option<Batch>, ComponentError> {
        if self.ended {
            return Ok(None);
        }
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(ComponentError::upstream_aborted()),
            msg = self.rx.recv() => match msg {
                Some(Message::Batch(b)) => Ok(Some(b)),
                Some(Message::End) => {
                    self.ended = true;
                    Ok(None)
                }
                None => Err(ComponentError::upstream_aborted()),
            }
        }
    }

    /// Rows the sender has sent so far.
    pub fn rows_sent(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    /// The run's cancellation token.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record;

    #[tokio::test]
    async fn clean_end_and_abort_are_told_apart() {
        let (tx, mut rx) = channel(2, CancellationToken::new());
        tx.send(vec![record! {"a" => 1}]).await.expect("send");
        tx.finish().await;
        assert_eq!(rx.recv().await.expect("batch").map(|b| b.len()), Some(1));
        assert!(rx.recv().await.expect("end").is_none());

        let (tx, mut rx) = channel(2, CancellationToken::new());
        drop(tx);
        let err = rx.recv().await.expect_err("aborted");
        assert!(err.is_secondary());
    }

    #[tokio::test]
    async fn capacity_bounds_batches_in_flight() {
        let (tx, _rx) = channel(2, CancellationToken::new());
        tx.send(vec![record! {"a" => 1}]).await.expect("1");
        tx.send(vec![record! {"a" => 2}]).await.expect("2");
        let third = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            tx.send(vec![record! {"a" => 3}]),
        )
        .await;
        assert!(third.is_err(), "a full channel must make the sender wait");
    }

    #[tokio::test]
    async fn cancellation_aborts_both_ends() {
        let cancel = CancellationToken::new();
        let (tx, mut rx) = channel(1, cancel.clone());
        cancel.cancel();
        assert!(tx.send(vec![record! {"a" => 1}]).await.is_err());
        assert!(rx.recv().await.is_err());
    }
}
