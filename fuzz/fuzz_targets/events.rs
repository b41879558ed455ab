//! Any message as a bus event: the first byte picks a routing key we consume (or an unknown
//! one), the rest is the body. Decoding never panics, and what decodes re-encodes to a body
//! that decodes again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use messaging::Event;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let keys = Event::ROUTING_KEYS;
    let key = keys
        .get(pick as usize % (keys.len() + 1))
        .copied()
        .unwrap_or("topology.NoSuchEvent");
    if let Ok(event) = Event::decode(key, body) {
        assert_eq!(event.routing_key(), key);
        let encoded = event.to_json();
        if let Err(e) = Event::decode(key, &encoded) {
            panic!("{key}: our own encoding does not decode: {e}");
        }
    }
});
