//! Conformance: every XML file of the Apache Stratos samples loads through the same code.
//! Skips (and says so) only when the samples folder is absent.

use alto_config::{load_path, parse_document, Document, PartitionAlgorithm};
use std::path::{Path, PathBuf};

fn samples() -> Option<PathBuf> {
    let dir = std::env::var("STRATOS_SAMPLES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/stratos-samples")
        });
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIP: stratos samples not found at {}", dir.display());
        None
    }
}

#[test]
fn every_sample_loads_and_the_template_is_rejected_at_62_18() {
    let Some(dir) = samples() else { return };
    // Each .xml file on its own: a document, no problem.
    let mut xml_files = 0;
    for entry in std::fs::read_dir(&dir).expect("read samples").flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "xml") {
            xml_files += 1;
            let bytes = std::fs::read(&path).expect("read sample");
            if let Err(problems) = parse_document(&path, &bytes) {
                panic!("{} does not load: {problems:?}", path.display());
            }
        }
    }
    assert!(
        xml_files >= 6,
        "expected the Stratos XML samples, found {xml_files}"
    );
    // The folder as a whole: the template is the one malformed file, at 62:18. (The samples come
    // from different Stratos versions, so cross-references between them legitimately fail.)
    let (set, problems) = load_path(&dir);
    let malformed: Vec<_> = problems
        .iter()
        .filter(|p| p.message.starts_with("malformed XML"))
        .collect();
    assert_eq!(malformed.len(), 1, "{malformed:?}");
    let p = malformed[0];
    assert!(
        p.location
            .file
            .ends_with("40-cloud-controller-installer-template.xml.in"),
        "{p}"
    );
    assert_eq!((p.location.line, p.location.col), (62, 18), "{p}");
    assert!(set
        .ignored
        .iter()
        .any(|f| f.ends_with("30-cartridges-schema.xsd")));
    assert!(set
        .cloud_controller
        .as_ref()
        .is_some_and(|cc| !cc.iaas_providers.is_empty()));
}

#[test]
fn sample_contents() {
    let Some(dir) = samples() else { return };
    let read = |name: &str| {
        parse_document(
            &dir.join(name),
            &std::fs::read(dir.join(name)).expect("sample file"),
        )
    };
    let Ok(Document::CloudController(cc40)) = read("40-cloud-controller.xml") else {
        panic!("40 cloud-controller")
    };
    let Ok(Document::CloudController(cc416)) = read("416-cloud-controller.xml") else {
        panic!("416 cloud-controller")
    };
    let types = |cc: &alto_config::CloudControllerConfig| {
        cc.iaas_providers
            .iter()
            .map(|p| p.provider_type.clone())
            .collect::<Vec<_>>()
    };
    assert!(
        !types(&cc40).is_empty() && !types(&cc416).is_empty(),
        "{:?} {:?}",
        types(&cc40),
        types(&cc416)
    );
    assert!(
        cc416.iaas_providers.iter().any(|p| p.provider == "mock"),
        "{:?}",
        types(&cc416)
    );
    let Ok(Document::DeploymentPolicy(dp)) = read("40m7-deployment-policy-economy.xml") else {
        panic!("m7 deployment policy")
    };
    assert!(!dp.partition_groups.is_empty() && !dp.partition_groups[0].partitions.is_empty());
    assert_eq!(
        dp.partition_groups[0].algorithm,
        PartitionAlgorithm::OneAfterAnother
    );
    let Ok(Document::AutoscalePolicy(ap)) = read("40m7-autoscale-policy-economyPolicy.xml") else {
        panic!("m7 autoscale policy")
    };
    assert_eq!(ap.id, "economyPolicy");
    assert!(ap
        .load_thresholds
        .requests_in_flight
        .as_ref()
        .and_then(|t| t.threshold)
        .is_some());
    let Ok(Document::Cartridges(c)) = read("40-legacy-cartridge-def-ec2-php.xml") else {
        panic!("legacy cartridge")
    };
    assert_eq!(c[0].cartridge_type, "php");
    let Ok(Document::MockIaas(m)) = read("416-mock-iaas.xml") else {
        panic!("mock-iaas")
    };
    assert!(m
        .cartridges
        .iter()
        .flat_map(|c| &c.patterns)
        .all(|p| !p.sample_values.is_empty()));
}

#[test]
fn truncated_samples_never_panic() {
    let Some(dir) = samples() else { return };
    for entry in std::fs::read_dir(&dir).expect("read samples").flatten() {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        for cut in (0..bytes.len()).step_by(97) {
            let _ = parse_document(Path::new("cut.xml"), &bytes[..cut]);
        }
    }
}
