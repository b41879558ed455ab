//! Any text as a payload line: the controller's parser (`Payload::parse`) and the agent's
//! (`launch-params`, `agent.conf`, `PORTS`), never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let payload = cloud_controller::payload::Payload::parse(text);
    let _ = payload.get("PORTS");
    let _ = payload.to_line();

    let params = cartridge_agent::config::LaunchParams::parse(text);
    for (key, _) in params.iter() {
        let _ = params.get(key);
    }
    if let Some(ports) = params.get("PORTS") {
        let _ = cartridge_agent::config::parse_ports(Path::new("launch-params"), ports);
    }
    let conf = cartridge_agent::config::AgentConf::parse(text);
    let _ = conf.get("amqp.url");
});
