//! Stream definitions (the JSON a client sends in `defineStream`) and the events of a
//! `ThriftEventBundle`, laid out as the data bridge lays them: event after event, each one's
//! stream id (its first string) and timestamp (its first long), then its attributes in the
//! definition's order (meta, correlation, payload), each from the list of its type (`FLOAT`
//! travels in the doubles).

use super::databridge::ThriftEventBundle;
use serde::Deserialize;

/// The most attributes a stream may have, and events a bundle may carry.
pub const MAX_ATTRIBUTES: usize = 64;
pub const MAX_EVENTS_PER_BUNDLE: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AttributeType {
    Int,
    Long,
    Float,
    Double,
    Bool,
    String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Attribute {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: AttributeType,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamDefinition {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub meta_data: Vec<Attribute>,
    #[serde(default)]
    pub correlation_data: Vec<Attribute>,
    #[serde(default)]
    pub payload_data: Vec<Attribute>,
}

/// Why a definition or a bundle was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("malformed stream definition: {0}")]
    Malformed(String),
    #[error("stream definition with {0} attributes (at most {MAX_ATTRIBUTES})")]
    TooManyAttributes(usize),
    #[error("bundle of {0} events (at most {MAX_EVENTS_PER_BUNDLE})")]
    TooManyEvents(i32),
    #[error("event {index}: no stream {stream_id:?} defined in this session")]
    UndefinedStream { index: usize, stream_id: String },
    #[error("event {index}: the bundle has fewer {kind} attributes than its events need")]
    Short { index: usize, kind: &'static str },
}

impl StreamDefinition {
    pub fn parse(json: &str) -> Result<StreamDefinition, StreamError> {
        let def: StreamDefinition =
            serde_json::from_str(json).map_err(|e| StreamError::Malformed(e.to_string()))?;
        if def.name.is_empty() || def.version.is_empty() {
            return Err(StreamError::Malformed("empty name or version".into()));
        }
        let count = def.attributes().count();
        if count > MAX_ATTRIBUTES {
            return Err(StreamError::TooManyAttributes(count));
        }
        Ok(def)
    }

    /// The data bridge's stream id.
    pub fn id(&self) -> String {
        format!("{}:{}", self.name, self.version)
    }

    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.meta_data
            .iter()
            .chain(&self.correlation_data)
            .chain(&self.payload_data)
    }
}

/// One attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i32),
    Long(i64),
    Double(f64),
    Bool(bool),
    String(String),
}

/// One decoded event: its stream, timestamp and attributes by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub stream: StreamDefinition,
    pub timestamp: i64,
    pub values: Vec<(String, Value)>,
}

impl Event {
    pub fn string(&self, name: &str) -> Option<&str> {
        self.values.iter().find_map(|(n, v)| match v {
            Value::String(s) if n == name => Some(s.as_str()),
            _ => None,
        })
    }

    pub fn number(&self, name: &str) -> Option<f64> {
        self.values.iter().find_map(|(n, v)| match v {
            Value::Double(d) if n == name => Some(*d),
            Value::Int(i) if n == name => Some(f64::from(*i)),
            Value::Long(l) if n == name => Some(*l as f64),
            _ => None,
        })
    }
}

fn list<T>(l: &Option<Vec<T>>) -> &[T] {
    l.as_deref().unwrap_or(&[])
}

/// Decode the bundle's events; `stream` finds a stream id's definition for this session.
pub fn decode(
    bundle: &ThriftEventBundle,
    stream: impl Fn(&str) -> Option<StreamDefinition>,
) -> Result<Vec<Event>, StreamError> {
    let count = bundle.event_num.unwrap_or(0).max(0);
    if count as usize > MAX_EVENTS_PER_BUNDLE {
        return Err(StreamError::TooManyEvents(count));
    }
    let mut ints = list(&bundle.int_attribute_list).iter().copied();
    let mut longs = list(&bundle.long_attribute_list).iter().copied();
    let mut doubles = list(&bundle.double_attribute_list).iter().copied();
    let mut bools = list(&bundle.bool_attribute_list).iter().copied();
    let mut strings = list(&bundle.string_attribute_list).iter();
    let mut events = Vec::with_capacity(count as usize);
    for index in 0..count as usize {
        let short = |kind| StreamError::Short { index, kind };
        let stream_id = strings.next().ok_or(short("string"))?;
        let definition = stream(stream_id).ok_or_else(|| StreamError::UndefinedStream {
            index,
            stream_id: stream_id.clone(),
        })?;
        let timestamp = longs.next().ok_or(short("long"))?;
        let mut values = Vec::with_capacity(definition.attributes().count());
        for attribute in definition.attributes() {
            let value = match attribute.kind {
                AttributeType::Int => Value::Int(ints.next().ok_or(short("int"))?),
                AttributeType::Long => Value::Long(longs.next().ok_or(short("long"))?),
                AttributeType::Float | AttributeType::Double => {
                    Value::Double(doubles.next().ok_or(short("double"))?.into_inner())
                }
                AttributeType::Bool => Value::Bool(bools.next().ok_or(short("bool"))?),
                AttributeType::String => {
                    Value::String(strings.next().ok_or(short("string"))?.clone())
                }
            };
            values.push((attribute.name.clone(), value));
        }
        events.push(Event {
            stream: definition,
            timestamp,
            values,
        });
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use thrift::OrderedFloat;

    const HEALTH: &str = r#"{"name":"cartridge_agent_health_stats","version":"1.0.0","nickName":"n","description":"d","payloadData":[{"name":"cluster_id", "type": "STRING"},{"name":"member_id", "type": "STRING"},{"name":"health_description", "type": "STRING"},{"name":"value", "type": "DOUBLE"}]}"#;

    fn bundle(
        strings: &[&str],
        longs: Vec<i64>,
        doubles: Vec<f64>,
        events: i32,
    ) -> ThriftEventBundle {
        ThriftEventBundle::new(
            "s".to_string(),
            events,
            Vec::new(),
            longs,
            doubles.into_iter().map(OrderedFloat).collect::<Vec<_>>(),
            Vec::new(),
            strings.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            None,
        )
    }

    #[test]
    fn events_are_laid_out_one_after_another() {
        let def = StreamDefinition::parse(HEALTH).unwrap();
        assert_eq!(def.id(), "cartridge_agent_health_stats:1.0.0");
        let id = def.id();
        let b = bundle(
            &[
                &id,
                "c1",
                "m1",
                "load_average",
                &id,
                "c1",
                "m1",
                "memory_consumption",
            ],
            vec![10, 20],
            vec![55.0, 40.0],
            2,
        );
        let events = decode(&b, |s| (s == id).then(|| def.clone())).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].timestamp, 20);
        assert_eq!(
            events[1].string("health_description"),
            Some("memory_consumption")
        );
        assert_eq!(events[1].number("value"), Some(40.0));
        let stat = super::super::health_stat(&events[0]).unwrap();
        assert_eq!(stat.member.cluster_id, "c1");
        assert_eq!(stat.load_average, Some(55.0));
        assert_eq!(stat.memory_consumption, None);
    }

    #[test]
    fn short_oversized_and_undefined_bundles_are_refused() {
        let def = StreamDefinition::parse(HEALTH).unwrap();
        let id = def.id();
        let short = bundle(&[&id, "c1", "m1", "load_average"], vec![10], vec![], 1);
        assert_eq!(
            decode(&short, |_| Some(def.clone())),
            Err(StreamError::Short {
                index: 0,
                kind: "double"
            })
        );
        let many = bundle(&[], vec![], vec![], 1_000_000);
        assert!(matches!(
            decode(&many, |_| Some(def.clone())),
            Err(StreamError::TooManyEvents(_))
        ));
        let unknown = bundle(&["x:1", "c1"], vec![1], vec![1.0], 1);
        assert!(matches!(
            decode(&unknown, |_| None),
            Err(StreamError::UndefinedStream { .. })
        ));
        assert!(StreamDefinition::parse("{").is_err());
        let wide = format!(
            r#"{{"name":"w","version":"1","payloadData":[{}]}}"#,
            (0..65)
                .map(|i| format!(r#"{{"name":"a{i}","type":"INT"}}"#))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(
            StreamDefinition::parse(&wide),
            Err(StreamError::TooManyAttributes(65))
        );
    }
}
