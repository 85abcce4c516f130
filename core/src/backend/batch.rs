use std::ops::Range;

use crate::event::Kind;

/// Encoded events: one contiguous JSONL buffer (what file backends write as is) plus, per event,
/// where its line is and the fields routing needs. No allocation per event.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    lines: Vec<u8>,
    strings: String,
    items: Vec<Item>,
}

/// One event of a [`Batch`].
#[derive(Debug, Clone)]
pub struct Item {
    pub kind: Kind,
    line: Range<usize>,
    key: Range<usize>,
    entity_type: Range<usize>,
}

impl Batch {
    pub fn with_capacity(events: usize) -> Self {
        Batch {
            // A stored event is 400-500 bytes (the benchmark's is 430): sized so that a full
            // batch of typical events is never reallocated (each reallocation copied the batch).
            lines: Vec::with_capacity(events * 512),
            // Idempotency key (36) and entity type per event.
            strings: String::with_capacity(events * 48),
            items: Vec::with_capacity(events),
        }
    }

    /// Appends one event: `write` appends its JSON (no newline) to the buffer it is given.
    pub(crate) fn push_with(
        &mut self,
        kind: Kind,
        key: &str,
        entity_type: &str,
        write: impl FnOnce(&mut Vec<u8>),
    ) {
        let start = self.lines.len();
        write(&mut self.lines);
        let line = start..self.lines.len();
        self.lines.push(b'\n');
        let key = self.intern(key);
        let entity_type = self.intern(entity_type);
        self.items.push(Item { kind, line, key, entity_type });
    }

    fn intern(&mut self, s: &str) -> Range<usize> {
        let start = self.strings.len();
        self.strings.push_str(s);
        start..self.strings.len()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// Bytes of JSONL (every event followed by '\n').
    pub fn jsonl(&self) -> &[u8] {
        &self.lines
    }
    pub fn items(&self) -> &[Item] {
        &self.items
    }
    /// The JSON object of event `i`, without newline.
    pub fn event_json(&self, i: usize) -> &[u8] {
        &self.lines[self.items[i].line.clone()]
    }
    pub fn idempotency_key(&self, i: usize) -> &str {
        &self.strings[self.items[i].key.clone()]
    }
    pub fn entity_type(&self, i: usize) -> &str {
        &self.strings[self.items[i].entity_type.clone()]
    }

    /// `[e0,e1,...]`, the body of HTTP backends.
    pub fn json_array(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.lines.len() + 2);
        out.push(b'[');
        for i in 0..self.items.len() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(self.event_json(i));
        }
        out.push(b']');
        out
    }

    /// A new batch holding the events at `indices`, in that order.
    pub fn select(&self, indices: impl IntoIterator<Item = usize>) -> Batch {
        let mut out = Batch::default();
        for i in indices {
            let item = &self.items[i];
            out.push_with(item.kind, self.idempotency_key(i), self.entity_type(i), |buf| {
                buf.extend_from_slice(self.event_json(i))
            });
        }
        out
    }

    /// A key that is the same for the same events: used as the batch's `Idempotency-Key`.
    pub fn batch_key(&self) -> String {
        let mut keys = String::with_capacity(self.strings.len() + self.items.len());
        for i in 0..self.items.len() {
            keys.push_str(self.idempotency_key(i));
            keys.push('\n');
        }
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, keys.as_bytes()).to_string()
    }
}
