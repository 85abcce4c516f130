//! Request bodies of the batch endpoints: `{"events": [...]}`, the earlier clients' `[...]`, and
//! the agent-to-agent envelope `{"events": [...], "source": "...", "site_id": "..."}`.
//!
//! The events are borrowed from the body as raw JSON (`&RawValue`, no tree, no copy) and handed
//! to the core one by one. The array is cut off at `ingest.max_batch_size` while it is parsed,
//! so a body of tiny elements cannot make a huge list.

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// A parsed batch body.
#[derive(Debug, Default)]
pub struct Envelope<'a> {
    pub events: Vec<&'a RawValue>,
    pub source: Option<String>,
    pub site_id: Option<String>,
}

/// Which body an endpoint takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `{"events": [...]}`
    Object,
    /// `[...]`
    Array,
    /// `{"events": [...], "source": "...", "site_id": "..."}`
    Managed,
}

/// Why a batch body was refused as a whole.
#[derive(Debug, PartialEq)]
pub enum BodyError {
    /// More events than `ingest.max_batch_size` (413).
    TooMany(usize),
    /// Malformed or of the wrong shape (400); `field` names where, when known.
    Invalid { field: Option<String>, message: String },
}

/// Where the parser is, to name the field of an error.
#[derive(Default)]
struct Ctx {
    too_many: Cell<bool>,
    field: RefCell<Option<String>>,
    /// Inside the events array: its name and the index of the element being parsed (named in
    /// an error only, not formatted for every element).
    element: Cell<Option<(&'static str, usize)>>,
}

pub fn parse(body: &[u8], shape: Shape, max: usize) -> Result<Envelope<'_>, BodyError> {
    let ctx = Ctx::default();
    let mut de = serde_json::Deserializer::from_slice(body);
    let result = match shape {
        Shape::Array => EventsSeed { max, ctx: &ctx, prefix: "" }
            .deserialize(&mut de)
            .map(|events| Envelope { events, ..Envelope::default() }),
        Shape::Object | Shape::Managed => de::Deserializer::deserialize_map(
            &mut de,
            EnvelopeVisitor { max, managed: shape == Shape::Managed, ctx: &ctx },
        ),
    };
    let result = result.and_then(|env| de.end().map(|()| env));
    result.map_err(|e| {
        if ctx.too_many.get() {
            return BodyError::TooMany(max);
        }
        let field = match ctx.element.get() {
            Some((prefix, index)) => Some(format!("{prefix}[{index}]")),
            None => ctx.field.borrow().clone(),
        };
        let message =
            if e.is_syntax() || e.is_eof() { format!("malformed JSON: {e}") } else { e.to_string() };
        BodyError::Invalid { field, message }
    })
}

struct EventsSeed<'c> {
    max: usize,
    ctx: &'c Ctx,
    prefix: &'static str,
}

impl<'de> DeserializeSeed<'de> for EventsSeed<'_> {
    type Value = Vec<&'de RawValue>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EventsSeed<'_> {
    type Value = Vec<&'de RawValue>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of events")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(self.max).min(4096));
        loop {
            self.ctx.element.set(Some((self.prefix, out.len())));
            match seq.next_element::<&'de RawValue>()? {
                Some(v) if out.len() < self.max => out.push(v),
                Some(_) => {
                    self.ctx.too_many.set(true);
                    return Err(de::Error::custom(format_args!("more than {} events", self.max)));
                }
                None => break,
            }
        }
        self.ctx.element.set(None);
        *self.ctx.field.borrow_mut() = None;
        Ok(out)
    }
}

struct EnvelopeVisitor<'c> {
    max: usize,
    managed: bool,
    ctx: &'c Ctx,
}

impl<'de> Visitor<'de> for EnvelopeVisitor<'_> {
    type Value = Envelope<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.managed {
            f.write_str(r#"an object {"events": [...], "source": "...", "site_id": "..."}"#)
        } else {
            f.write_str(r#"an object {"events": [...]}"#)
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut env = Envelope::default();
        let mut seen_events = false;
        while let Some(key) = map.next_key::<String>()? {
            *self.ctx.field.borrow_mut() = Some(key.clone());
            match key.as_str() {
                "events" if !seen_events => {
                    seen_events = true;
                    env.events =
                        map.next_value_seed(EventsSeed { max: self.max, ctx: self.ctx, prefix: "events" })?;
                }
                "source" if self.managed && env.source.is_none() => env.source = map.next_value()?,
                "site_id" if self.managed && env.site_id.is_none() => env.site_id = map.next_value()?,
                "events" | "source" | "site_id" if self.managed || key == "events" => {
                    return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
                }
                _ => {
                    let expected: &[&str] =
                        if self.managed { &["events", "source", "site_id"] } else { &["events"] };
                    return Err(de::Error::unknown_field(&key, expected));
                }
            }
        }
        if !seen_events {
            *self.ctx.field.borrow_mut() = Some("events".into());
            return Err(de::Error::missing_field("events"));
        }
        *self.ctx.field.borrow_mut() = None;
        Ok(env)
    }
}

/// For the managed endpoint: `event` with `site_id` set to `site` when it has none (absent or
/// null). `None` when the event already has one, or is not an object (the core then says why).
/// Keys and values other than `site_id` are kept byte for byte, in their order.
pub fn with_site_id(event: &RawValue, site: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Probe<'a> {
        #[serde(borrow, default)]
        site_id: Option<&'a RawValue>,
    }
    let text = event.get();
    if !text.starts_with('{') {
        return None;
    }
    match serde_json::from_str::<Probe>(text) {
        Ok(Probe { site_id: Some(v) }) if v.get() != "null" => return None,
        Ok(_) => {}
        Err(_) => return None,
    }
    let members: Vec<(String, &RawValue)> = serde_json::from_str::<OrderedMembers>(text).ok()?.0;
    let mut out = String::with_capacity(text.len() + site.len() + 16);
    out.push_str("{\"site_id\":");
    out.push_str(&serde_json::to_string(site).ok()?);
    for (k, v) in members.iter().filter(|(k, _)| k != "site_id") {
        out.push(',');
        out.push_str(&serde_json::to_string(k).ok()?);
        out.push(':');
        out.push_str(v.get());
    }
    out.push('}');
    Some(out)
}

/// An object's members in their order, values raw.
struct OrderedMembers<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for OrderedMembers<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedMembers<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(OrderedMembers(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(body: &str, shape: Shape) -> (Option<String>, String) {
        match parse(body.as_bytes(), shape, 10) {
            Err(BodyError::Invalid { field, message }) => (field, message),
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn the_three_shapes() {
        let env = parse(br#"{"events":[{"a":1}, 2, "x"]}"#, Shape::Object, 10).unwrap();
        assert_eq!(env.events.iter().map(|e| e.get()).collect::<Vec<_>>(), [r#"{"a":1}"#, "2", r#""x""#]);
        let env = parse(br#" [ {"a":1} ] "#, Shape::Array, 10).unwrap();
        assert_eq!(env.events.len(), 1);
        let env = parse(br#"{"source":"h","events":[],"site_id":"fab1"}"#, Shape::Managed, 10).unwrap();
        assert_eq!(
            (env.source.as_deref(), env.site_id.as_deref(), env.events.len()),
            (Some("h"), Some("fab1"), 0)
        );
    }

    #[test]
    fn errors_name_where() {
        assert_eq!(invalid(r#"{"evnts":[]}"#, Shape::Object).0.as_deref(), Some("evnts"));
        assert_eq!(invalid(r#"{}"#, Shape::Object).0.as_deref(), Some("events"));
        assert_eq!(invalid(r#"{"events":{}}"#, Shape::Object).0.as_deref(), Some("events"));
        assert_eq!(invalid(r#"{"events":[{}, {"a":]}"#, Shape::Object).0.as_deref(), Some("events[1]"));
        assert_eq!(invalid(r#"[{}, {]"#, Shape::Array).0.as_deref(), Some("[1]"));
        assert_eq!(invalid(r#"{"events":[],"source":"x"}"#, Shape::Object).0.as_deref(), Some("source"));
        assert_eq!(invalid(r#"{"events":[],"events":[]}"#, Shape::Object).0.as_deref(), Some("events"));
        assert_eq!(invalid(r#"{"events":[]} x"#, Shape::Object).0, None);
        assert!(invalid(r#"[1"#, Shape::Array).1.starts_with("malformed JSON"));
        assert!(invalid(r#"{"a":1}"#, Shape::Array).1.contains("array"));
        assert!(invalid("", Shape::Object).1.starts_with("malformed JSON"));
    }

    #[test]
    fn too_many_is_cut_off_while_parsing() {
        let body = format!("[{}]", ["{}"; 11].join(","));
        assert_eq!(parse(body.as_bytes(), Shape::Array, 10).unwrap_err(), BodyError::TooMany(10));
        let body = format!("[{}]", ["{}"; 10].join(","));
        assert_eq!(parse(body.as_bytes(), Shape::Array, 10).unwrap().events.len(), 10);
    }

    #[test]
    fn site_id_fills_only_what_is_missing() {
        let raw = |s: &str| RawValue::from_string(s.to_owned()).unwrap();
        let filled = with_site_id(
            &raw(r#"{"event":{"kind":"log","metadata":{"z":1,"a":2}},"site_id":null}"#),
            "fab\"1",
        );
        assert_eq!(
            filled.as_deref(),
            Some(r#"{"site_id":"fab\"1","event":{"kind":"log","metadata":{"z":1,"a":2}}}"#)
        );
        assert_eq!(with_site_id(&raw(r#"{"site_id":"mine","event":{}}"#), "fab1"), None);
        assert_eq!(
            with_site_id(&raw(r#"{"event":{}}"#), "f").as_deref(),
            Some(r#"{"site_id":"f","event":{}}"#)
        );
        assert_eq!(with_site_id(&raw("[1]"), "f"), None);
    }
}
