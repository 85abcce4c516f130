//! The spool's record framing:
//!
//! ```text
//! magic u32 "MSP1" | seq u64 | len u32 | crc32c u32 (over seq, len, payload) | payload (len bytes)
//! payload = kind u8 | key_len u16 | key | entity_type_len u16 | entity_type | event JSON
//! ```
//!
//! All integers little-endian. The magic lets a reader find the next record after a damaged
//! one; the sequence number, increasing by one per record, makes every loss countable exactly.

use crate::backend::Batch;
use crate::event::Kind;

pub(crate) const MAGIC: [u8; 4] = *b"MSP1";
pub(crate) const HEADER: usize = 4 + 8 + 4 + 4;
/// No record is larger than this: a length above it is damage, not data.
pub(crate) const MAX_PAYLOAD: usize = 4 << 20;

/// Appends the records of every event of `batch`, numbered from `first_seq`.
pub(crate) fn encode_batch(batch: &Batch, first_seq: u64, out: &mut Vec<u8>) {
    for i in 0..batch.len() {
        let key = batch.idempotency_key(i).as_bytes();
        let etype = batch.entity_type(i).as_bytes();
        let json = batch.event_json(i);
        let start = out.len();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&(first_seq + i as u64).to_le_bytes());
        out.extend_from_slice(&[0u8; 8]); // len and crc, filled in below
        let payload_start = out.len();
        out.push(kind_code(batch.items()[i].kind));
        push_short(out, key);
        push_short(out, etype);
        out.extend_from_slice(json);
        let len = (out.len() - payload_start) as u32;
        out[start + 12..start + 16].copy_from_slice(&len.to_le_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&out[start + 4..start + 16]), &out[payload_start..]);
        out[start + 16..start + 20].copy_from_slice(&crc.to_le_bytes());
    }
}

fn push_short(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len().min(u16::MAX as usize);
    out.extend_from_slice(&(n as u16).to_le_bytes());
    out.extend_from_slice(&s[..n]);
}

/// What reading at one position found.
#[derive(Debug, PartialEq)]
pub(crate) enum Read {
    /// A whole, intact record: its sequence number, payload range, and total size.
    Record { seq: u64, payload: std::ops::Range<usize>, size: usize },
    /// Not enough bytes for a whole record (the end of the data, or a torn write).
    Incomplete,
    /// Bytes that are not an intact record.
    Damaged,
}

/// Reads the record at the start of `buf`.
pub(crate) fn read_record(buf: &[u8]) -> Read {
    if buf.len() < HEADER {
        return Read::Incomplete;
    }
    if buf[..4] != MAGIC {
        return Read::Damaged;
    }
    let seq = u64::from_le_bytes(buf[4..12].try_into().unwrap_or_default());
    let len = u32::from_le_bytes(buf[12..16].try_into().unwrap_or_default()) as usize;
    let crc = u32::from_le_bytes(buf[16..20].try_into().unwrap_or_default());
    if len > MAX_PAYLOAD {
        return Read::Damaged;
    }
    if buf.len() < HEADER + len {
        return Read::Incomplete;
    }
    let payload = HEADER..HEADER + len;
    if crc32c::crc32c_append(crc32c::crc32c(&buf[4..16]), &buf[payload.clone()]) != crc {
        return Read::Damaged;
    }
    Read::Record { seq, payload, size: HEADER + len }
}

/// Where the next record could start after damage at the start of `buf` (the next magic).
pub(crate) fn resync(buf: &[u8]) -> Option<usize> {
    buf.windows(4).skip(1).position(|w| w == MAGIC).map(|p| p + 1)
}

/// Adds the event a payload holds to `batch`; false if the payload is malformed.
pub(crate) fn decode_into(payload: &[u8], batch: &mut Batch) -> bool {
    let Some((&code, rest)) = payload.split_first() else { return false };
    let Some(kind) = kind_from_code(code) else { return false };
    let Some((key, rest)) = take_short(rest) else { return false };
    let Some((etype, json)) = take_short(rest) else { return false };
    let (Ok(key), Ok(etype)) = (std::str::from_utf8(key), std::str::from_utf8(etype)) else { return false };
    batch.push_with(kind, key, etype, |buf| buf.extend_from_slice(json));
    true
}

fn take_short(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = u16::from_le_bytes(buf.get(..2)?.try_into().ok()?) as usize;
    let rest = &buf[2..];
    (rest.len() >= n).then(|| rest.split_at(n))
}

fn kind_code(kind: Kind) -> u8 {
    Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0) as u8
}

fn kind_from_code(code: u8) -> Option<Kind> {
    Kind::ALL.get(code as usize).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(n: usize) -> Batch {
        let mut b = Batch::default();
        for i in 0..n {
            b.push_with(Kind::Metric, &format!("key-{i}"), "tool", |buf| {
                buf.extend_from_slice(format!(r#"{{"n":{i}}}"#).as_bytes())
            });
        }
        b
    }

    #[test]
    fn records_round_trip() {
        let mut buf = Vec::new();
        encode_batch(&batch(3), 10, &mut buf);
        let mut at = 0;
        let mut out = Batch::default();
        let mut seqs = Vec::new();
        while let Read::Record { seq, payload, size } = read_record(&buf[at..]) {
            assert!(decode_into(&buf[at..][payload], &mut out));
            seqs.push(seq);
            at += size;
        }
        assert_eq!(at, buf.len());
        assert_eq!(seqs, vec![10, 11, 12]);
        assert_eq!(out.idempotency_key(2), "key-2");
        assert_eq!(out.entity_type(1), "tool");
        assert_eq!(out.event_json(0), br#"{"n":0}"#);
    }

    #[test]
    fn damage_is_detected_and_skipped() {
        let mut buf = Vec::new();
        encode_batch(&batch(3), 0, &mut buf);
        let first = match read_record(&buf) {
            Read::Record { size, .. } => size,
            other => panic!("{other:?}"),
        };
        buf[first + HEADER + 3] ^= 0x40; // a bit flip in the second record's payload
        assert_eq!(read_record(&buf[first..]), Read::Damaged);
        let next = first + resync(&buf[first..]).unwrap();
        assert!(matches!(read_record(&buf[next..]), Read::Record { seq: 2, .. }));
        assert_eq!(read_record(&buf[..first - 1]), Read::Incomplete);
    }
}
