//! The queue from `emit` to the batcher.
//!
//! Under `on_full: drop`, events go into a lock-free array queue (`crossbeam_queue::ArrayQueue`)
//! and the control messages (flush and stop markers, wake-ups) into a small crossbeam channel
//! beside it. `ArrayQueue::push` is the channel's `try_send` without the parts a caller of
//! `emit` never uses (the selection token, the registry of waiting senders): 90 to 115
//! instructions fewer per event (two callgrind measurements), 20 ns at p50 on the bench
//! machine. What those parts did is done here, on the paths that need it:
//!
//! - **Waking the batcher.** The batcher blocks on the control channel, which no event passes
//!   through. Before it blocks it sets `SLEEPING` and looks at the queue again; an `emit` reads
//!   the state after its push. Both are sequentially consistent (the push is a compare-and-swap
//!   of the queue's tail, the batcher's look reads that tail), so either the batcher sees the
//!   event or the `emit` sees `SLEEPING` and sends a wake-up: no event waits for the next one.
//! - **Closing.** At its stop the batcher routes the events queued before it, sets `CLOSED` and
//!   counts what is still queued as dropped. An `emit` that finds `CLOSED` after its push does
//!   the same for what it finds, so an event that raced in behind the stop is counted once by
//!   whoever takes it, as the channel's disconnection did.
//! - **Order.** A flush marker reaches the batcher through the channel, and the batcher then
//!   routes the events queued at that moment: everything emitted before the flush was called.
//!
//! Under `on_full: block` events go through the channel, whose blocking send waits for room.

use std::sync::atomic::{AtomicU8, Ordering::SeqCst};

use crossbeam_queue::ArrayQueue;

use super::Envelope;

/// The batcher is blocked on the control channel: the next event must wake it.
const SLEEPING: u8 = 1;
/// The batcher has stopped: what is queued now is dropped (and counted).
const CLOSED: u8 = 2;

pub(crate) struct Ingress {
    /// The events, under `on_full: drop`.
    events: Option<ArrayQueue<Envelope>>,
    state: AtomicU8,
}

/// What [`Ingress::push`] did.
pub(crate) enum Pushed {
    Queued,
    /// Queued, and the batcher was blocked: send it a wake-up.
    QueuedWake,
    /// Queued behind the batcher's stop: the events found queued (this one or others) were
    /// dropped, `n` of them, to be counted.
    QueuedClosed(usize),
    /// Not queued: the queue is full (or events use the channel).
    Full,
}

impl Ingress {
    /// `capacity` events under `on_full: drop`; `None` when events use the channel.
    pub fn new(capacity: Option<usize>) -> Ingress {
        Ingress { events: capacity.map(|c| ArrayQueue::new(c.max(1))), state: AtomicU8::new(0) }
    }

    /// Whether events go through here (`on_full: drop`) rather than the channel.
    pub fn carries_events(&self) -> bool {
        self.events.is_some()
    }

    /// Queues an event (`on_full: drop` only; `Full` otherwise). Never blocks.
    #[inline]
    pub fn push(&self, env: Envelope) -> Pushed {
        let Some(events) = &self.events else {
            env.event.give_back();
            return Pushed::Full;
        };
        if let Err(env) = events.push(env) {
            // Never queued: its block goes back to the thread that wrote it, this one.
            env.event.give_back();
            return Pushed::Full;
        }
        match self.state.load(SeqCst) {
            0 => Pushed::Queued,
            state => self.after_push(state),
        }
    }

    #[cold]
    fn after_push(&self, state: u8) -> Pushed {
        if state & CLOSED != 0 {
            return Pushed::QueuedClosed(self.drain());
        }
        // Only the first `emit` to see the batcher asleep wakes it.
        if self.state.fetch_and(!SLEEPING, SeqCst) & SLEEPING != 0 {
            Pushed::QueuedWake
        } else {
            Pushed::Queued
        }
    }

    /// The batcher's side: the next event, if any.
    #[inline]
    pub fn pop(&self) -> Option<Envelope> {
        self.events.as_ref()?.pop()
    }

    /// Events queued now.
    pub fn len(&self) -> usize {
        self.events.as_ref().map_or(0, ArrayQueue::len)
    }

    /// Room for events (`None` when events use the channel).
    pub fn room(&self) -> Option<usize> {
        self.events.as_ref().map(|q| q.capacity() - q.len())
    }

    /// The batcher is about to block on the control channel: `false` if an event is queued
    /// (then it must not block; `awake` undoes this).
    pub fn sleep(&self) -> bool {
        self.state.fetch_or(SLEEPING, SeqCst);
        if self.events.as_ref().is_some_and(|q| !q.is_empty()) {
            self.awake();
            return false;
        }
        true
    }

    /// The batcher is running again.
    pub fn awake(&self) {
        self.state.fetch_and(!SLEEPING, SeqCst);
    }

    /// The batcher has stopped: drops what is queued; how many.
    pub fn close(&self) -> usize {
        self.state.fetch_or(CLOSED, SeqCst);
        self.drain()
    }

    fn drain(&self) -> usize {
        let mut n = 0;
        while self.pop().is_some() {
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{validate_queued, ParsedEvent};

    fn envelope() -> Envelope {
        let (event, at_micros): (ParsedEvent, _) =
            validate_queued(br#"{"event":{"kind":"heartbeat"}}"#, 65536).expect("a valid event");
        Envelope { event, at_micros, emitted_at: 0 }
    }

    #[test]
    fn a_full_queue_refuses_and_a_popped_one_takes_again() {
        let q = Ingress::new(Some(2));
        assert!(matches!(q.push(envelope()), Pushed::Queued));
        assert!(matches!(q.push(envelope()), Pushed::Queued));
        assert!(matches!(q.push(envelope()), Pushed::Full));
        assert_eq!((q.len(), q.room()), (2, Some(0)));
        assert!(q.pop().is_some());
        assert!(matches!(q.push(envelope()), Pushed::Queued));
    }

    #[test]
    fn only_the_first_event_after_the_batcher_sleeps_wakes_it() {
        let q = Ingress::new(Some(8));
        assert!(q.sleep(), "nothing queued: the batcher may block");
        assert!(matches!(q.push(envelope()), Pushed::QueuedWake));
        assert!(matches!(q.push(envelope()), Pushed::Queued));
        // Awake with events queued: it must not block.
        assert!(!q.sleep());
        assert!(matches!(q.push(envelope()), Pushed::Queued));
    }

    #[test]
    fn events_behind_the_stop_are_dropped_by_whoever_finds_them() {
        let q = Ingress::new(Some(8));
        assert!(matches!(q.push(envelope()), Pushed::Queued));
        assert_eq!(q.close(), 1);
        assert!(matches!(q.push(envelope()), Pushed::QueuedClosed(1)));
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn under_on_full_block_events_take_the_channel() {
        let q = Ingress::new(None);
        assert!(!q.carries_events());
        assert!(matches!(q.push(envelope()), Pushed::Full));
        assert_eq!((q.len(), q.room()), (0, None));
    }
}
