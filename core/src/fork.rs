//! Fork safety. `before_fork` takes the registry lock so no client is being created while the
//! address space is copied; in the child, `after_fork_child` gives every live client a fresh
//! runtime, since the parent's threads were not copied.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::client::ClientInner;

static CLIENTS: Mutex<Vec<Weak<ClientInner>>> = Mutex::new(Vec::new());

thread_local! {
    static HELD: RefCell<Option<MutexGuard<'static, Vec<Weak<ClientInner>>>>> = const { RefCell::new(None) };
}

pub(crate) fn register(client: &Arc<ClientInner>) {
    if let Ok(mut list) = CLIENTS.lock() {
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(client));
    }
}

pub fn before_fork() {
    let guard = CLIENTS.lock().unwrap_or_else(|p| p.into_inner());
    HELD.with(|h| *h.borrow_mut() = Some(guard));
}

pub fn after_fork_parent() {
    HELD.with(|h| h.borrow_mut().take());
}

pub fn after_fork_child() {
    let guard = HELD.with(|h| h.borrow_mut().take());
    let clients: Vec<Arc<ClientInner>> = match &guard {
        Some(list) => list.iter().filter_map(Weak::upgrade).collect(),
        // The hooks were not paired (no before_fork): take the lock now.
        None => CLIENTS.lock().map(|l| l.iter().filter_map(Weak::upgrade).collect()).unwrap_or_default(),
    };
    drop(guard);
    crate::event::after_fork_child();
    for c in clients {
        c.restart_after_fork();
    }
}
