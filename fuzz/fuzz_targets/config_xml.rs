//! Any bytes as a configuration document: parsed by its root element (cartridges, policies,
//! cloud-controller.xml, mock-iaas.xml), with the nesting limit, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let origin = Path::new("fuzz.xml");
    // Whatever the outcome, every problem must name the document it came from.
    if let Err(problems) = alto_config::parse_document(origin, data) {
        for problem in problems {
            assert!(problem.to_string().starts_with("fuzz.xml:"), "{problem}");
        }
    }
    let _ = alto_config::parse_cartridges(origin, data);
    let _ = alto_config::parse_autoscale_policy(origin, data);
    let _ = alto_config::parse_deployment_policy(origin, data);
});
