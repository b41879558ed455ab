use super::*;

fn doc(xml: &str) -> Result<Document, Vec<Problem>> {
    parse_document(Path::new("t.xml"), xml.as_bytes())
}

fn lines(problems: &[Problem]) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}

const CC: &str = r#"<?xml version="1.0"?>
<cloudController xmlns:svns="http://org.wso2.securevault/configuration">
  <dataPublisher enable="true"><bamServer/></dataPublisher>
  <iaasProviders>
    <iaasProvider type="ec2" name="EC2">
      <className>org.apache.stratos.cloud.controller.iaases.AWSEC2Iaas</className>
      <provider>aws-ec2</provider>
      <identity svns:secretAlias="cc.ec2.identity">AKIAEXAMPLE</identity>
      <credential svns:secretAlias="cc.ec2.credential">very-secret</credential>
      <imageId>us-east-1/ami-1</imageId>
      <property name="shared" value="provider"/>
      <property name="jclouds.endpoint" value="http://127.0.0.1:5000"/>
    </iaasProvider>
  </iaasProviders>
</cloudController>"#;

#[test]
fn cloud_controller_reads_providers_and_hides_credentials() {
    let Document::CloudController(cc) = doc(CC).unwrap() else {
        panic!("wrong document")
    };
    assert!(cc.data_publisher_enabled);
    let p = &cc.iaas_providers[0];
    assert_eq!(
        (p.provider_type.as_str(), p.provider.as_str()),
        ("ec2", "aws-ec2")
    );
    assert_eq!(p.credential.expose(), "very-secret");
    assert_eq!(
        p.credential.secret_alias.as_deref(),
        Some("cc.ec2.credential")
    );
    assert_eq!((p.location.line, p.location.col), (5, 5));
    let printed = format!("{cc:?}{}", serde_json::to_string(&cc).unwrap());
    assert!(
        !printed.contains("very-secret") && !printed.contains("AKIAEXAMPLE"),
        "{printed}"
    );
}

#[test]
fn missing_required_elements_are_located() {
    let xml = "<cloudController>\n<iaasProviders>\n  <iaasProvider type=\"x\"><provider>mock</provider></iaasProvider>\n</iaasProviders></cloudController>";
    let problems = doc(xml).unwrap_err();
    let text = lines(&problems).join("\n");
    assert!(
        text.contains("t.xml:3:3: <iaasProvider> requires element <className>"),
        "{text}"
    );
    assert!(
        text.contains("<identity>") && text.contains("<credential>"),
        "{text}"
    );
}

#[test]
fn malformed_xml_gives_one_positioned_problem() {
    let problems =
        doc("<cartridge type=\"a\" host=\"b\">\n  <iaasProvider type=\"m\">\n</cartridge>")
            .unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].location.line, 3, "{}", problems[0]);
    assert!(
        problems[0].message.starts_with("malformed XML"),
        "{}",
        problems[0]
    );
    let problems = doc("<autoscalePolicy id=\"x\">").unwrap_err();
    assert_eq!(problems[0].location.line, 1);
    assert!(doc("").is_err());
    assert!(doc("just text").is_err());
}

#[test]
fn nesting_beyond_the_limit_is_a_positioned_problem_not_a_stack_overflow() {
    // 100,000 levels (about 700 KB): what overflowed a worker's stack before the limit.
    let deep = format!(
        "<autoscalePolicy id=\"x\">\n{}{}</autoscalePolicy>",
        "<a>".repeat(100_000),
        "</a>".repeat(100_000)
    );
    let problems = doc(&deep).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let p = &problems[0];
    assert!(p.message.contains("nested deeper than 256"), "{p}");
    // The element that crossed the limit: line 2, after 255 `<a>` of three characters.
    assert_eq!((p.location.line, p.location.col), (2, 255 * 3 + 1), "{p}");
    // At the limit itself the document parses (and is reported on its merits).
    let at_limit = format!(
        "<autoscalePolicy id=\"x\">{}{}</autoscalePolicy>",
        "<a>".repeat(crate::source::MAX_DEPTH - 1),
        "</a>".repeat(crate::source::MAX_DEPTH - 1)
    );
    assert!(doc(&at_limit).is_ok());
}

#[test]
fn iso_8859_1_is_decoded() {
    let mut bytes = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<cartridge type=\"php\" host=\"h\"><displayName>Caf".to_vec();
    bytes.push(0xE9); // 'é' in Latin-1, invalid as UTF-8
    bytes.extend_from_slice(b"</displayName><iaasProvider type=\"mock\"/></cartridge>");
    let list = parse_cartridges(Path::new("latin1.xml"), &bytes).unwrap();
    assert_eq!(list[0].display_name.as_deref(), Some("Café"));
}

#[test]
fn cartridge_shape() {
    let xml = r#"<cartridges>
  <cartridge type="php" host="php.example.org" provider="apache" version="7" multiTenant="true">
    <displayName>PHP</displayName>
    <property name="payload_parameter.X" value="1"/>
    <iaasProvider type="ec2"><imageId>us-east-1/ami-2</imageId><maxInstanceLimit>4</maxInstanceLimit>
      <property name="instanceType" value="m1.small"/></iaasProvider>
    <deployment baseDir="/var/www"><dir>www=copy</dir></deployment>
    <portMapping><http port="80" proxyPort="8280"/><https port="443" proxyPort="8243"/></portMapping>
  </cartridge>
  <cartridge type="tomcat" host="t"><iaasProvider type="ec2"/></cartridge>
</cartridges>"#;
    let list = parse_cartridges(Path::new("c.xml"), xml.as_bytes()).unwrap();
    assert_eq!(list.len(), 2);
    let php = &list[0];
    assert!(php.multi_tenant);
    assert_eq!(php.iaas_providers[0].max_instance_limit, Some(4));
    assert_eq!(
        php.port_mappings
            .iter()
            .map(|p| (p.protocol.as_str(), p.port, p.proxy_port))
            .collect::<Vec<_>>(),
        [("http", 80, Some(8280)), ("https", 443, Some(8243))]
    );
    assert_eq!(
        php.deployment.as_ref().map(|d| d.dirs.clone()),
        Some(vec!["www=copy".to_string()])
    );
    let json = serde_json::to_value(php).unwrap();
    assert_eq!(json["type"], "php");
    let bad = parse_cartridges(Path::new("c.xml"), b"<cartridge type=\"x\" host=\"h\"><iaasProvider type=\"m\"/><portMapping><http port=\"eighty\"/></portMapping></cartridge>").unwrap_err();
    assert!(lines(&bad)[0].contains("port number"), "{bad:?}");
    assert!(parse_cartridges(Path::new("c.xml"), b"<autoscalePolicy id=\"a\"/>").is_err());
}

#[test]
fn autoscale_policy_both_shapes() {
    let v40 = r#"<autoscalePolicy id="economy"><loadThresholds>
      <requestsInFlight><average value="6000"/><gradient value="0"/></requestsInFlight>
      <loadAverage><average>70</average></loadAverage></loadThresholds></autoscalePolicy>"#;
    let p = parse_autoscale_policy(Path::new("a.xml"), v40.as_bytes()).unwrap();
    assert_eq!(
        p.load_thresholds
            .requests_in_flight
            .as_ref()
            .and_then(|t| t.threshold),
        Some(6000.0)
    );
    assert_eq!(
        p.load_thresholds
            .load_average
            .as_ref()
            .and_then(|t| t.threshold),
        Some(70.0)
    );
    assert!(p.load_thresholds.memory_consumption.is_none());
    let v41 = r#"<autoscalePolicy id="p"><loadThresholds><memoryConsumption><threshold value="60"/><average value="99"/></memoryConsumption></loadThresholds></autoscalePolicy>"#;
    let p = parse_autoscale_policy(Path::new("a.xml"), v41.as_bytes()).unwrap();
    assert_eq!(
        p.load_thresholds
            .memory_consumption
            .as_ref()
            .and_then(|t| t.threshold),
        Some(60.0),
        "4.1 threshold wins over 4.0 average"
    );
    let bad = parse_autoscale_policy(Path::new("a.xml"), b"<autoscalePolicy id=\"p\"><loadThresholds><loadAverage><average value=\"lots\"/></loadAverage></loadThresholds></autoscalePolicy>").unwrap_err();
    assert!(lines(&bad)[0].starts_with("a.xml:1:"), "{bad:?}");
}

fn set_with(docs: &[&str]) -> (ConfigSet, Vec<Problem>) {
    let mut set = ConfigSet::default();
    let mut problems = Vec::new();
    for (i, xml) in docs.iter().enumerate() {
        match parse_document(Path::new(&format!("f{i}.xml")), xml.as_bytes()) {
            Ok(d) => set.add(d, &mut problems),
            Err(p) => problems.extend(p),
        }
    }
    problems.extend(set.validate());
    (set, problems)
}

#[test]
fn deployment_policy_references_and_ranges_are_located() {
    let policy = "<deploymentPolicy id=\"dp\">\n  <partitionGroup id=\"g\">\n    <partitionAlgo>round-robin</partitionAlgo>\n    <partition id=\"ghost\"><min>1</min></partition>\n    <partition id=\"inline\"><provider>ec2</provider><min>5</min><max value=\"2\"/></partition>\n    <partition id=\"elsewhere\"><provider>gce</provider></partition>\n  </partitionGroup>\n</deploymentPolicy>";
    let (set, problems) = set_with(&[CC, policy]);
    let text = lines(&problems).join("\n");
    assert!(
        text.contains("f1.xml:4:5: partition ghost names no provider and no standalone partition"),
        "{text}"
    );
    assert!(
        text.contains("f1.xml:5:5: partition inline: min 5 is greater than max 2"),
        "{text}"
    );
    assert!(
        text.contains("f1.xml:6:5: partition elsewhere names iaasProvider type \"gce\""),
        "{text}"
    );
    assert_eq!(
        set.deployment_policies[0].partition_groups[0].algorithm,
        PartitionAlgorithm::RoundRobin
    );
    let (_, problems) = set_with(&["<deploymentPolicy id=\"d\"><partitionGroup id=\"g\"><partitionAlgo>random</partitionAlgo><partition id=\"p\"><provider>x</provider></partition></partitionGroup></deploymentPolicy>"]);
    assert!(
        lines(&problems).join("").contains("unknown partitionAlgo"),
        "{problems:?}"
    );
}

#[test]
fn standalone_partitions_resolve_and_policy_values_win() {
    let parts = r#"<partitions><partition id="P1"><provider>ec2</provider><property name="region" value="r1"/><property name="zone" value="z1"/><min>1</min><max>3</max></partition></partitions>"#;
    let policy = r#"<deploymentPolicy id="d"><partitionGroup id="g"><partition id="P1"><max>5</max><property name="zone" value="z2"/></partition></partitionGroup></deploymentPolicy>"#;
    let (set, problems) = set_with(&[CC, parts, policy]);
    assert!(problems.is_empty(), "{problems:?}");
    let g = &set.deployment_policies[0].partition_groups[0];
    let resolved = set.resolve_partition(g, &g.partitions[0]).unwrap();
    assert_eq!(
        (resolved.provider.as_deref(), resolved.min, resolved.max),
        (Some("ec2"), Some(1), Some(5))
    );
    let zone: Vec<&str> = resolved
        .properties
        .iter()
        .filter(|p| p.name == "zone")
        .map(|p| p.value.as_str())
        .collect();
    assert_eq!(zone, ["z2"]);
}

const CC_TWO: &str = r#"<cloudController><iaasProviders>
  <iaasProvider type="ec2"><className>c</className><provider>aws-ec2</provider><identity>i</identity><credential>c</credential></iaasProvider>
  <iaasProvider type="os"><className>c</className><provider>openstack-nova</provider><identity>i</identity><credential>c</credential></iaasProvider>
</iaasProviders></cloudController>"#;

#[test]
fn network_partitions_scope_their_partitions_and_cascade_properties() {
    let nps = r#"<networkPartitions>
  <networkPartition id="np-a" provider="ec2">
    <property name="np" value="a"/><property name="zone" value="np-zone"/>
    <partition id="P1"><property name="zone" value="a1"/></partition>
  </networkPartition>
  <networkPartition id="np-b" provider="os">
    <partition id="P1"><description>b's own P1</description><property name="zone" value="b1"/></partition>
  </networkPartition>
</networkPartitions>"#;
    let policy = r#"<deploymentPolicy id="d41">
  <partitionGroup id="np-a"><partition id="P1"><max>4</max></partition></partitionGroup>
  <partitionGroup id="np-b"><partition id="P1"><max>2</max><property name="zone" value="policy"/></partition></partitionGroup>
</deploymentPolicy>"#;
    let (set, problems) = set_with(&[CC_TWO, nps, policy]);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(set.network_partitions.len(), 2);
    let groups = &set.deployment_policies[0].partition_groups;
    let a = set
        .resolve_partition(&groups[0], &groups[0].partitions[0])
        .unwrap();
    let b = set
        .resolve_partition(&groups[1], &groups[1].partitions[0])
        .unwrap();
    assert_eq!((a.provider.as_deref(), a.max), (Some("ec2"), Some(4)));
    assert_eq!((b.provider.as_deref(), b.max), (Some("os"), Some(2)));
    let prop = |p: &PartitionConfig, name: &str| {
        p.properties
            .iter()
            .rev()
            .find(|x| x.name == name)
            .map(|x| x.value.clone())
    };
    // network partition < partition < policy.
    assert_eq!(prop(&a, "zone").as_deref(), Some("a1"));
    assert_eq!(prop(&a, "np").as_deref(), Some("a"));
    assert_eq!(prop(&b, "zone").as_deref(), Some("policy"));
    assert_eq!(prop(&b, "np"), None);
}

#[test]
fn network_partition_problems_are_located() {
    let unknown_cloud =
        r#"<networkPartition id="n1" provider="gce"><partition id="P1"/></networkPartition>"#;
    let (_, problems) = set_with(&[CC_TWO, unknown_cloud]);
    let text = lines(&problems).join("\n");
    assert!(
        text.contains("f1.xml:1:1: network partition n1 names iaasProvider type \"gce\""),
        "{text}"
    );
    let bad = "<networkPartitions>\n<networkPartition id=\"n2\"><partition id=\"P1\"/><partition id=\"P1\"/></networkPartition>\n<networkPartition id=\"n3\" provider=\"ec2\"/>\n</networkPartitions>";
    let (_, problems) = set_with(&[CC_TWO, bad]);
    let text = lines(&problems).join("\n");
    assert!(
        text.contains("f1.xml:2:27: partition P1 of network partition \"n2\" names no provider"),
        "{text}"
    );
    assert!(
        text.contains("partition P1 appears twice in network partition n2"),
        "{text}"
    );
    assert!(
        text.contains("f1.xml:3:1: network partition \"n3\" holds no <partition>"),
        "{text}"
    );
    // A policy naming a partition its network partition does not hold.
    let nps = r#"<networkPartition id="np" provider="ec2"><partition id="P1"/></networkPartition>"#;
    let policy = "<deploymentPolicy id=\"d\">\n<partitionGroup id=\"np\"><partition id=\"P2\"/></partitionGroup>\n</deploymentPolicy>";
    let (_, problems) = set_with(&[CC_TWO, nps, policy]);
    assert_eq!(
        lines(&problems),
        ["f2.xml:2:25: partition P2 is not in network partition np (it holds P1)"]
    );
    let (_, problems) = set_with(&[CC_TWO, nps, nps]);
    assert!(
        lines(&problems)
            .join("")
            .contains("duplicate network partition \"np\""),
        "{problems:?}"
    );
}

#[test]
fn a_network_partition_may_name_the_cloud_per_partition() {
    let np = r#"<networkPartition id="np"><partition id="P1"><provider>os</provider></partition><partition id="P2" provider="ec2"/></networkPartition>"#;
    let (set, problems) = set_with(&[CC_TWO, np]);
    assert!(problems.is_empty(), "{problems:?}");
    let providers: Vec<_> = set.network_partitions[0]
        .partitions
        .iter()
        .map(|p| p.provider.clone())
        .collect();
    assert_eq!(providers, [Some("os".to_string()), Some("ec2".to_string())]);
    let unknown = r#"<networkPartition id="np"><partition id="P1"><provider>gce</provider></partition></networkPartition>"#;
    let (_, problems) = set_with(&[CC_TWO, unknown]);
    assert!(
        lines(&problems)
            .join("")
            .contains("partition P1 of network partition np names iaasProvider type \"gce\""),
        "{problems:?}"
    );
}

#[test]
fn cartridge_host_is_optional() {
    let cartridges = parse_cartridges(
        Path::new("c.xml"),
        b"<cartridge type=\"php\"><iaasProvider type=\"ec2\"/></cartridge>",
    )
    .unwrap();
    assert_eq!(cartridges[0].host, None);
    let cartridges = parse_cartridges(
        Path::new("c.xml"),
        b"<cartridge type=\"php\" host=\" php.example.org \"><iaasProvider type=\"ec2\"/></cartridge>",
    )
    .unwrap();
    assert_eq!(cartridges[0].host.as_deref(), Some("php.example.org"));
}

#[test]
fn cartridge_naming_an_unknown_provider_is_a_problem() {
    let cartridge =
        "<cartridge type=\"php\" host=\"h\">\n  <iaasProvider type=\"openstack\"/>\n</cartridge>";
    let (_, problems) = set_with(&[CC, cartridge]);
    assert_eq!(lines(&problems), ["f1.xml:2:3: cartridge php names iaasProvider type \"openstack\", which cloud-controller.xml does not define (known: ec2)"]);
    let (_, problems) = set_with(&[cartridge]);
    assert!(
        problems.is_empty(),
        "no cloud-controller.xml in the set: nothing to check against"
    );
}

#[test]
fn property_cascade_partition_wins_and_unknown_names_pass() {
    let cartridge = r#"<cartridge type="php" host="h"><property name="shared" value="cartridge"/><property name="only.cartridge" value="c"/>
      <iaasProvider type="ec2"><imageId>us-east-1/ami-c</imageId><property name="shared" value="cartridge-iaas"/><property name="x.unknown" value="u"/></iaasProvider></cartridge>"#;
    let parts = r#"<partitions><partition id="P"><provider>ec2</provider><property name="shared" value="partition"/></partition></partitions>"#;
    let (set, problems) = set_with(&[CC, cartridge, parts]);
    assert!(problems.is_empty(), "{problems:?}");
    let eff = set.effective_properties(&set.cartridges[0], "ec2", &set.partitions[0]);
    assert_eq!(
        eff.properties.get("shared").map(String::as_str),
        Some("partition")
    );
    assert_eq!(
        eff.properties.get("only.cartridge").map(String::as_str),
        Some("c")
    );
    assert_eq!(
        eff.properties.get("x.unknown").map(String::as_str),
        Some("u")
    );
    assert_eq!(
        eff.properties.get("jclouds.endpoint").map(String::as_str),
        Some("http://127.0.0.1:5000")
    );
    assert_eq!(eff.image_id.as_deref(), Some("us-east-1/ami-c"));
    let no_partition_prop = PartitionConfig {
        id: "Q".into(),
        provider: Some("ec2".into()),
        properties: vec![],
        min: None,
        max: None,
        location: Location::default(),
    };
    let eff = set.effective_properties(&set.cartridges[0], "ec2", &no_partition_prop);
    assert_eq!(
        eff.properties.get("shared").map(String::as_str),
        Some("cartridge-iaas")
    );
}

#[test]
fn mock_iaas_patterns() {
    let xml = r#"<mock-iaas enabled="true"><health-statistics><cartridge type="php">
      <pattern factor="memory-consumption" mode="loop"><sampleValues>20, 30,40</sampleValues><sampleDuration>30</sampleDuration></pattern>
      <pattern factor="load-average"><sampleValues>5</sampleValues></pattern></cartridge></health-statistics></mock-iaas>"#;
    let Document::MockIaas(m) = doc(xml).unwrap() else {
        panic!()
    };
    let p = &m.cartridges[0].patterns;
    assert_eq!(
        (
            p[0].factor,
            p[0].mode,
            p[0].sample_values.clone(),
            p[0].sample_duration_secs
        ),
        (
            HealthFactor::MemoryConsumption,
            PatternMode::Loop,
            vec![20.0, 30.0, 40.0],
            30
        )
    );
    assert_eq!(
        (p[1].mode, p[1].sample_duration_secs),
        (PatternMode::Continue, 60)
    );
    let bad = doc(r#"<mock-iaas><health-statistics><cartridge type="php"><pattern factor="cpu" mode="loop"><sampleValues>1</sampleValues></pattern><pattern factor="load-average" mode="loop"><sampleValues>-1,x</sampleValues></pattern></cartridge></health-statistics></mock-iaas>"#).unwrap_err();
    assert_eq!(bad.len(), 4, "{bad:?}");
}

#[test]
fn duplicates_are_reported() {
    let a = r#"<autoscalePolicy id="same"/>"#;
    let (_, problems) = set_with(&[a, a]);
    assert!(
        lines(&problems)[0]
            .contains("duplicate autoscale policy \"same\" (first defined at f0.xml:1:1)"),
        "{problems:?}"
    );
}

#[test]
fn alias_pattern() {
    for ok in ["myphp", "my-php", "a1-b2-c3", "x", "1"] {
        assert!(is_valid_alias(ok), "{ok}");
    }
    for bad in ["", "My", "my_php", "-a", "a-", "a--b", "a.b", "a b", "é"] {
        assert!(!is_valid_alias(bad), "{bad}");
    }
}

fn repo_conf() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conf")
}

#[test]
fn shipped_conf_is_valid() {
    let (set, problems) = load_path(&repo_conf());
    assert!(problems.is_empty(), "{}", lines(&problems).join("\n"));
    assert_eq!(
        set.cloud_controller
            .as_ref()
            .map(|c| c.iaas_providers.len()),
        Some(2)
    );
    assert!(
        set.cartridges.len() >= 2
            && set.autoscale_policies.len() >= 2
            && set.deployment_policies.len() >= 2
    );
    assert!(set.mock_iaas.is_some() && !set.partitions.is_empty());
}

#[test]
fn no_input_panics() {
    let mut inputs: Vec<Vec<u8>> = vec![CC.as_bytes().to_vec()];
    for file in [
        "cloud-controller.xml",
        "cartridges/php.xml",
        "policies/deployment-ha.xml",
        "mock-iaas.xml",
    ] {
        if let Ok(b) = std::fs::read(repo_conf().join(file)) {
            inputs.push(b);
        }
    }
    for input in inputs {
        for cut in (0..input.len()).step_by(7) {
            let _ = parse_document(Path::new("cut.xml"), &input[..cut]);
            let mut garbled = input.clone();
            if let Some(b) = garbled.get_mut(cut) {
                *b = b"<>&\"'\xff/="[cut % 8];
            }
            let _ = parse_document(Path::new("garbled.xml"), &garbled);
        }
    }
}

#[test]
fn dry_run_is_an_optional_autoscale_policy_flag() {
    let ok = crate::parse_autoscale_policy(
        std::path::Path::new("p.xml"),
        b"<autoscalePolicy id=\"a\"><loadThresholds/><dryRun>true</dryRun></autoscalePolicy>",
    )
    .unwrap();
    assert!(ok.dry_run);
    let absent = crate::parse_autoscale_policy(
        std::path::Path::new("p.xml"),
        b"<autoscalePolicy id=\"a\"><loadThresholds/></autoscalePolicy>",
    )
    .unwrap();
    assert!(!absent.dry_run);
    let problems = crate::parse_autoscale_policy(
        std::path::Path::new("p.xml"),
        b"<autoscalePolicy id=\"a\">\n  <dryRun>maybe</dryRun></autoscalePolicy>",
    )
    .unwrap_err();
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].to_string().starts_with("p.xml:2:3: <dryRun>"),
        "{}",
        problems[0]
    );
}

#[test]
fn cartridge_persistence_is_read_with_positions_for_problems() {
    let doc = br#"<cartridge type="db" host="h"><iaasProvider type="mock"/>
<persistence required="true"><volume id="data" size="10" device="/dev/sdf" removeOnTermination="false" mappingPath="/var/lib"/>
<volume><size>5</size></volume></persistence></cartridge>"#;
    let set = crate::parse_cartridges(std::path::Path::new("c.xml"), doc).unwrap();
    let p = set[0].persistence.as_ref().expect("persistence");
    assert!(p.required);
    assert_eq!(p.volumes.len(), 2);
    assert_eq!(p.volumes[0].size_gb, 10);
    assert_eq!(p.volumes[0].device.as_deref(), Some("/dev/sdf"));
    assert!(!p.volumes[0].remove_on_termination);
    assert_eq!(p.volumes[1].size_gb, 5);
    assert!(
        p.volumes[1].remove_on_termination,
        "default: removed with the member"
    );
    let bad = br#"<cartridge type="db" host="h"><iaasProvider type="mock"/>
<persistence required="true"><volume size="big"/></persistence></cartridge>"#;
    let problems = crate::parse_cartridges(std::path::Path::new("c.xml"), bad).unwrap_err();
    assert!(
        problems[0]
            .to_string()
            .starts_with("c.xml:2:30: <volume> size"),
        "{}",
        problems[0]
    );
}

#[test]
fn names_keep_cluster_ids_and_host_names_valid() {
    use crate::NameRule::{DnsLabel, Identifier};
    assert!(DnsLabel.check("php").is_ok());
    assert!(DnsLabel.check("wso2-is").is_ok());
    assert!(DnsLabel.check(&"a".repeat(63)).is_ok());
    for bad in ["-php", "php-", "ph_p", "ph.p", "p p", &"a".repeat(64)] {
        assert!(DnsLabel.check(bad).is_err(), "{bad:?}");
    }
    assert!(Identifier.check("economyPolicy").is_ok());
    assert!(Identifier.check("deployment-policy_1.v2").is_ok());
    for bad in ["a b", "a/b", "a\u{e9}", &"x".repeat(129)] {
        assert!(Identifier.check(bad).is_err(), "{bad:?}");
    }
    assert!(crate::is_valid_alias(&"a".repeat(63)));
    assert!(!crate::is_valid_alias(&"a".repeat(64)));
    assert!(!crate::is_valid_alias(&"a".repeat(10_000)));

    let long = "p".repeat(64);
    let problems = doc(&format!(
        "<cartridge type=\"{long}\" host=\"h\" provider=\"p\" version=\"1\">\n\
         <displayName>d</displayName><description>d</description></cartridge>"
    ))
    .unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.location.line == 1 && p.message.contains("longer than 63")),
        "{problems:?}"
    );
    let problems =
        doc("<autoscalePolicy id=\"has space\"><loadThresholds/></autoscalePolicy>").unwrap_err();
    assert!(
        problems[0].message.contains("character ' ' is not allowed"),
        "{problems:?}"
    );
}
