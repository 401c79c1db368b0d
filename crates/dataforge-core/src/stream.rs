//! Batches and the bounded channels that join stages.
//!
//! A stream ends in one of two ways: cleanly, when the sending stage calls
//! [`BatchSender::finish`], or aborted, when the sender is dropped without finishing (its stage
//! failed) or the run is cancelled. A destination commits only on a clean end.
//!
//! A channel into a destination that has a [`Preparer`] also carries [`Prepared`] batches: what
//! the runner's workers made of the rows for it.
//!
//! A source may send a [`DeferredBatch`] instead of rows: the work that decodes them (a chunk of
//! a file's text, say). The runner decodes it on the worker thread that then transforms the
//! batch, so decoding uses every core and a row is made, transformed and freed on one thread
//! (freeing memory another thread allocated costs the allocator several times more). Outside
//! the runner, [`BatchReceiver::recv`] decodes it where it is received.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::component::Preparer;
use crate::error::ComponentError;
use crate::value::Record;

/// A batch of records: the unit that flows between stages.
pub type Batch = Vec<Record>;

/// A batch after its destination's [`Preparer`]: the rows it held and what was made of them.
pub struct Prepared {
    rows: u64,
    payload: Box<dyn Any + Send>,
}

impl Prepared {
    /// What a batch became (encoded bytes, a count): `load` takes it back with
    /// [`Prepared::into_payload`]. The batch's row count is set by whoever ran the preparer.
    pub fn new<T: Send + 'static>(payload: T) -> Self {
        Self {
            rows: 0,
            payload: Box::new(payload),
        }
    }

    /// Runs `preparer` on `batch` and records how many rows went in: the one place preparers
    /// run, on the runner's workers and in [`BatchReceiver::recv_prepared`].
    pub(crate) fn of(preparer: &dyn Preparer, batch: Batch) -> Result<Self, ComponentError> {
        let rows = batch.len() as u64;
        let mut prepared = preparer.prepare(batch)?;
        prepared.rows = rows;
        Ok(prepared)
    }

    /// How many rows went into it.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The payload, as the type its preparer made.
    ///
    /// # Errors
    /// A fatal error when it is another type (a destination reading what another preparer
    /// made: a bug).
    pub fn into_payload<T: 'static>(self) -> Result<T, ComponentError> {
        self.payload.downcast::<T>().map(|b| *b).map_err(|_| {
            ComponentError::fatal_msg(format!(
                "a prepared batch does not hold a {}",
                std::any::type_name::<T>()
            ))
        })
    }
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("rows", &self.rows)
            .finish()
    }
}

/// The decoding of a batch, put off until a thread that will work on the batch runs it (see the
/// module docs).
pub struct DeferredBatch(Box<dyn FnOnce() -> Result<Batch, ComponentError> + Send>);

impl DeferredBatch {
    /// A batch that `decode` makes; its error is the source's.
    pub fn new(decode: impl FnOnce() -> Result<Batch, ComponentError> + Send + 'static) -> Self {
        Self(Box::new(decode))
    }

    /// Decodes the batch.
    ///
    /// # Errors
    /// The source's decoding error (a malformed record, say).
    pub fn decode(self) -> Result<Batch, ComponentError> {
        (self.0)()
    }
}

impl std::fmt::Debug for DeferredBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeferredBatch")
    }
}

enum Message {
    Batch(Batch),
    Deferred(DeferredBatch),
    Prepared(Prepared),
    End,
}

/// What a receiver hands on: a [`Message`] other than the end.
enum Item {
    Batch(Batch),
    Deferred(DeferredBatch),
    Prepared(Prepared),
}

/// A batch as the transform stage receives it: rows, or rows still to decode.
pub(crate) enum Incoming {
    Rows(Batch),
    Deferred(DeferredBatch),
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
        self.push(Message::Batch(batch), n).await
    }

    /// Sends a batch still to be decoded (see [`DeferredBatch`]), waiting for room. Its rows
    /// are not counted by [`BatchSender::rows_sent`]: they are not known yet.
    ///
    /// # Errors
    /// As [`BatchSender::send`].
    pub async fn send_deferred(&self, batch: DeferredBatch) -> Result<(), ComponentError> {
        self.push(Message::Deferred(batch), 0).await
    }

    /// Sends one prepared batch (see [`Preparer`]), waiting for room: the runner's, which made
    /// it with [`Prepared::of`].
    ///
    /// # Errors
    /// As [`BatchSender::send`].
    pub(crate) async fn send_prepared(&self, prepared: Prepared) -> Result<(), ComponentError> {
        let n = prepared.rows;
        self.push(Message::Prepared(prepared), n).await
    }

    /// Sends `message`, which holds `rows` rows, unless the run is cancelled first.
    async fn push(&self, message: Message, rows: u64) -> Result<(), ComponentError> {
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(ComponentError::upstream_aborted()),
            sent = self.tx.send(message) => {
                sent.map_err(|_| ComponentError::downstream_closed())?;
                self.rows.fetch_add(rows, Ordering::Relaxed);
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

    /// Rows sent so far, not counting those of deferred batches.
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
    ///
    /// A deferred batch is decoded here, on the receiving thread, and fails with the source's
    /// decoding error. A destination with a [`Preparer`] reads with
    /// [`BatchReceiver::recv_prepared`] instead: here a prepared batch is a fatal error.
    pub async fn recv(&mut self) -> Result<Option<Batch>, ComponentError> {
        match self.next().await? {
            None => Ok(None),
            Some(Item::Batch(b)) => Ok(Some(b)),
            Some(Item::Deferred(d)) => d.decode().map(Some),
            Some(Item::Prepared(_)) => Err(ComponentError::fatal_msg(
                "received a prepared batch: a destination with a preparer reads with \
                 `recv_prepared`",
            )),
        }
    }

    /// The next batch, prepared: the runner's workers prepared it already, or `preparer` does
    /// it here (batches sent as rows, such as dead letters, or a channel fed outside the
    /// runner). `Ok(None)` at a clean end of the stream.
    ///
    /// # Errors
    /// As [`BatchReceiver::recv`], and the preparer's error.
    pub async fn recv_prepared(
        &mut self,
        preparer: &dyn Preparer,
    ) -> Result<Option<Prepared>, ComponentError> {
        match self.next().await? {
            None => Ok(None),
            Some(Item::Prepared(p)) => Ok(Some(p)),
            Some(Item::Batch(b)) => Prepared::of(preparer, b).map(Some),
            Some(Item::Deferred(d)) => Prepared::of(preparer, d.decode()?).map(Some),
        }
    }

    /// The next batch for the transform stage, deferred ones undecoded; `Ok(None)` at the
    /// clean end. A prepared batch is a fatal error: only the transform stage makes them.
    ///
    /// # Errors
    /// As [`BatchReceiver::recv`].
    pub(crate) async fn recv_incoming(&mut self) -> Result<Option<Incoming>, ComponentError> {
        match self.next().await? {
            None => Ok(None),
            Some(Item::Batch(b)) => Ok(Some(Incoming::Rows(b))),
            Some(Item::Deferred(d)) => Ok(Some(Incoming::Deferred(d))),
            Some(Item::Prepared(_)) => Err(ComponentError::fatal_msg(
                "a source sent a prepared batch: only the runner's transform stage makes them",
            )),
        }
    }

    /// The next batch or prepared batch; `None` at the clean end.
    async fn next(&mut self) -> Result<Option<Item>, ComponentError> {
        if self.ended {
            return Ok(None);
        }
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(ComponentError::upstream_aborted()),
            msg = self.rx.recv() => match msg {
                Some(Message::Batch(b)) => Ok(Some(Item::Batch(b))),
                Some(Message::Deferred(d)) => Ok(Some(Item::Deferred(d))),
                Some(Message::Prepared(p)) => Ok(Some(Item::Prepared(p))),
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

    /// Counts the rows of a batch.
    struct Count;

    impl Preparer for Count {
        fn prepare(&self, batch: Batch) -> Result<Prepared, ComponentError> {
            Ok(Prepared::new(batch.len()))
        }
    }

    #[tokio::test]
    async fn prepared_batches_pass_and_rows_are_prepared_on_receipt() {
        let (tx, mut rx) = channel(4, CancellationToken::new());
        let three = Prepared::of(&Count, vec![record! {"a" => 1}; 3]).expect("prepared");
        tx.send_prepared(three).await.expect("1");
        tx.send(vec![record! {"a" => 1}, record! {"a" => 2}])
            .await
            .expect("2");
        assert_eq!(tx.rows_sent(), 5);
        tx.finish().await;
        let first = rx.recv_prepared(&Count).await.expect("1").expect("some");
        assert_eq!(
            (first.rows(), first.into_payload::<usize>().ok()),
            (3, Some(3))
        );
        let second = rx.recv_prepared(&Count).await.expect("2").expect("some");
        assert_eq!(second.into_payload::<usize>().ok(), Some(2));
        assert!(rx.recv_prepared(&Count).await.expect("end").is_none());

        let wrong = Prepared::new(1usize).into_payload::<String>();
        let e = wrong.expect_err("another type");
        assert!(
            e.to_string()
                .contains("does not hold a alloc::string::String"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn recv_refuses_a_prepared_batch_with_the_cure() {
        let (tx, mut rx) = channel(2, CancellationToken::new());
        tx.send_prepared(Prepared::new(())).await.expect("send");
        let e = rx.recv().await.expect_err("prepared");
        assert!(e.to_string().contains("recv_prepared"), "{e}");
    }

    #[tokio::test]
    async fn a_receiver_outside_the_runner_decodes_deferred_batches_and_their_errors() {
        let (tx, mut rx) = channel(4, CancellationToken::new());
        let two = || Ok(vec![record! {"a" => 1}, record! {"a" => 2}]);
        tx.send_deferred(DeferredBatch::new(two)).await.expect("1");
        tx.send_deferred(DeferredBatch::new(two)).await.expect("2");
        let bad = || Err(ComponentError::fatal_msg("line 7: invalid JSON"));
        tx.send_deferred(DeferredBatch::new(bad)).await.expect("3");
        // Deferred rows are not known when sent: the runner counts them as it decodes them.
        assert_eq!(tx.rows_sent(), 0);
        assert_eq!(rx.recv().await.expect("1").map(|b| b.len()), Some(2));
        let prepared = rx.recv_prepared(&Count).await.expect("2").expect("some");
        assert_eq!(prepared.rows(), 2);
        let e = rx.recv().await.expect_err("3");
        assert_eq!(e.to_string(), "line 7: invalid JSON");
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
