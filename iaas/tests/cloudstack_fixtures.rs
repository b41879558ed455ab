//! The `cloudstack` driver against Apache Libcloud's recorded CloudStack responses, served by a
//! local stub that checks every request's signature (see tests/libcloud/mod.rs).

mod libcloud;

use base64::Engine;
use iaas::cloudstack::{vm_name, CloudStackIaas};
use iaas::{
    ErrorClass, Iaas, InstanceFilter, InstanceSpec, InstanceState, Properties, ProviderSpec,
    Secret, MANAGED_BY_VALUE, TAG_CLUSTER_ID, TAG_MANAGED_BY, TAG_MEMBER_ID,
};
use libcloud::{fixture_json, CloudStackStub, Transform};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

const API_KEY: &str = "test-api-key";
const SECRET: &str = "test/secret+key=";
const PAYLOAD: &str = "SERVICE_NAME=php,CARTRIDGE_KEY=abc123 xyz,CLUSTER_ID=php.c1";

fn provider(endpoint: &str, secret: &str) -> ProviderSpec {
    let mut properties = Properties::new();
    properties.insert("endpoint".into(), endpoint.into());
    properties.insert("cloudstack.job.poll.ms".into(), "5".into());
    properties.insert("cloudstack.job.timeout.secs".into(), "5".into());
    properties.insert("cloudstack.retry.min.ms".into(), "5".into());
    ProviderSpec {
        provider_type: "cs".into(),
        provider: "cloudstack".into(),
        class_name: None,
        identity: Secret::new(API_KEY),
        credential: Secret::new(secret),
        image_id: None,
        properties,
    }
}

/// First `id` of the list under `<command>response.<field>` of a recorded response.
fn first_id(file: &str, field: &str) -> String {
    let body = fixture_json(&format!("cloudstack/{file}"));
    let inner = body.as_object().unwrap().values().next().unwrap();
    id_text(&inner[field][0]["id"])
}

fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn our_tags(member: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (TAG_MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (TAG_CLUSTER_ID.to_string(), "php.c1".to_string()),
        (TAG_MEMBER_ID.to_string(), member.to_string()),
    ])
}

fn instance_spec(zone: &str, offering: &str, template: &str) -> InstanceSpec {
    let mut properties = Properties::new();
    properties.insert("availabilityZone".into(), zone.into());
    properties.insert("instanceType".into(), offering.into());
    properties.insert("keyPair".into(), "alto-key".into());
    properties.insert("securityGroupIds".into(), "sg-1,sg-2".into());
    properties.insert("networkIds".into(), "net-1".into());
    InstanceSpec {
        member_id: "m1".into(),
        cluster_id: "php.c1".into(),
        service_name: "php".into(),
        network_partition_id: "np1".into(),
        partition_id: "p1".into(),
        image_id: Some(template.into()),
        payload: PAYLOAD.into(),
        properties,
        tags: our_tags("m1"),
        volumes: Vec::new(),
    }
}

async fn stub() -> CloudStackStub {
    CloudStackStub::start(API_KEY, SECRET, HashMap::new(), None).await
}

#[tokio::test]
async fn validate_partition_checks_zone_offering_and_template() {
    let stub = stub().await;
    let driver = CloudStackIaas::new(&provider(&stub.endpoint(), SECRET)).unwrap();
    let zone = first_id("listZones_default.json", "zone");
    let offering = first_id("listServiceOfferings_default.json", "serviceoffering");
    let template = first_id("listTemplates_default.json", "template");
    let props = Properties::from([
        ("availabilityZone".to_string(), zone.clone()),
        ("instanceType".to_string(), offering.clone()),
        ("templateId".to_string(), template.clone()),
    ]);
    driver.validate_partition("p1", &props).await.unwrap();
    let commands = stub.commands().await;
    assert_eq!(
        commands,
        ["listZones", "listServiceOfferings", "listTemplates"]
    );
    let requests = stub.requests().await;
    assert_eq!(requests[0]["id"], zone);
    assert_eq!(requests[2]["templatefilter"], "executable");

    let mut bad = props.clone();
    bad.insert("availabilityZone".into(), "no-such-zone".into());
    let err = driver.validate_partition("p1", &bad).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::InvalidRequest, "{err}");
    assert!(err.message.contains("no-such-zone"), "{err}");

    let mut bad = props.clone();
    bad.insert("instanceType".into(), "no-such-offering".into());
    let err = driver.validate_partition("p1", &bad).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::InvalidRequest, "{err}");
}

#[tokio::test]
async fn start_instance_deploys_with_signed_userdata_tags_and_waits_for_the_job() {
    let stub = stub().await;
    let driver = CloudStackIaas::new(&provider(&stub.endpoint(), SECRET)).unwrap();
    let spec = instance_spec("1", "105", "421");
    let instance = driver.start_instance(&spec).await.unwrap();

    // The VM the recorded deploy job reports.
    let deploy = fixture_json("cloudstack/deployVirtualMachine_default.json");
    let job_id = id_text(&deploy["deployvirtualmachineresponse"]["jobid"]);
    let job = fixture_json(&format!("cloudstack/queryAsyncJobResult_{job_id}.json"));
    let vm = &job["queryasyncjobresultresponse"]["jobresult"]["virtualmachine"];
    assert_eq!(instance.instance_id, id_text(&vm["id"]));
    assert_eq!(
        instance.instance_id,
        id_text(&deploy["deployvirtualmachineresponse"]["id"])
    );
    assert_eq!(instance.state, InstanceState::Running);
    assert_eq!(
        instance.private_ips,
        vec![vm["nic"][0]["ipaddress"].as_str().unwrap().to_string()]
    );
    assert_eq!(instance.member_id(), Some("m1"));
    assert_eq!(
        instance.extra.get("zone").map(String::as_str),
        vm["zonename"].as_str()
    );

    let requests = stub.requests().await;
    let commands: Vec<&str> = requests.iter().map(|r| r["command"].as_str()).collect();
    // First the member's VM is looked for, by tag and by name (Libcloud's recorded VMs are not
    // ours), then deployed and tagged before the job is awaited.
    assert_eq!(
        commands[..2],
        ["listVirtualMachines", "listVirtualMachines"]
    );
    assert_eq!(requests[0]["tags[1].key"], TAG_MEMBER_ID);
    assert_eq!(requests[0]["tags[1].value"], "m1");
    assert_eq!(requests[1]["name"], vm_name("m1"));
    assert_eq!(commands[2], "deployVirtualMachine");
    assert_eq!(commands[3], "createTags", "tags are set before waiting");
    assert!(commands.contains(&"queryAsyncJobResult"));
    let deploy_req = &requests[2];
    let userdata = base64::engine::general_purpose::STANDARD
        .decode(&deploy_req["userdata"])
        .unwrap();
    assert_eq!(String::from_utf8(userdata).unwrap(), PAYLOAD);
    assert_eq!(deploy_req["zoneid"], "1");
    assert_eq!(deploy_req["serviceofferingid"], "105");
    assert_eq!(deploy_req["templateid"], "421");
    assert_eq!(deploy_req["keypair"], "alto-key");
    assert_eq!(deploy_req["securitygroupids"], "sg-1,sg-2");
    assert_eq!(deploy_req["networkids"], "net-1");
    // The member id goes with the deploy itself: the VM is ours before it is tagged.
    assert_eq!(deploy_req["displayname"], "m1");
    assert_eq!(deploy_req["name"], vm_name("m1"));
    let tags_req = &requests[3];
    assert_eq!(tags_req["resourcetype"], "UserVm");
    assert_eq!(tags_req["resourceids"], instance.instance_id);
    let sent: BTreeMap<String, String> = (0..3)
        .map(|i| {
            (
                tags_req[&format!("tags[{i}].key")].clone(),
                tags_req[&format!("tags[{i}].value")].clone(),
            )
        })
        .collect();
    assert_eq!(sent, our_tags("m1"));
}

#[tokio::test]
async fn describe_instances_lists_by_tag_and_keeps_only_ours() {
    // Libcloud's recorded VMs carry other tags; add ours to the first one only.
    let recorded = fixture_json("cloudstack/listVirtualMachines_default.json");
    let vms = recorded["listvirtualmachinesresponse"]["virtualmachine"]
        .as_array()
        .unwrap()
        .clone();
    assert!(vms.len() >= 2);
    let transform: Transform = Arc::new(
        |command: &str, _: &HashMap<String, String>, mut body: Value| {
            if command == "listVirtualMachines" {
                let vm = &mut body["listvirtualmachinesresponse"]["virtualmachine"][0];
                let mut tags = vm["tags"].as_array().cloned().unwrap_or_default();
                for (k, v) in our_tags("m7") {
                    tags.push(json!({"key": k, "value": v}));
                }
                vm["tags"] = Value::Array(tags);
            }
            body
        },
    );
    let stub = CloudStackStub::start(API_KEY, SECRET, HashMap::new(), Some(transform)).await;
    let driver = CloudStackIaas::new(&provider(&stub.endpoint(), SECRET)).unwrap();
    let filter = InstanceFilter {
        cluster_id: Some("php.c1".into()),
        member_id: None,
    };
    let found = driver.describe_instances(&filter).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let vm = &vms[0];
    assert_eq!(found[0].instance_id, id_text(&vm["id"]));
    assert_eq!(found[0].member_id(), Some("m7"));
    assert_eq!(
        found[0].state,
        if vm["state"] == "Running" {
            InstanceState::Running
        } else {
            InstanceState::Pending
        }
    );
    assert_eq!(
        found[0].private_ips,
        vec![vm["nic"][0]["ipaddress"].as_str().unwrap().to_string()]
    );
    // The cloud's own tags are kept too.
    let first_cloud_tag = &vm["tags"][0];
    assert_eq!(
        found[0].tags.get(first_cloud_tag["key"].as_str().unwrap()),
        Some(&first_cloud_tag["value"].as_str().unwrap().to_string())
    );
    let request = &stub.requests().await[0];
    assert_eq!(request["command"], "listVirtualMachines");
    assert_eq!(request["tags[0].key"], TAG_MANAGED_BY);
    assert_eq!(request["tags[0].value"], MANAGED_BY_VALUE);
    assert_eq!(request["tags[1].key"], TAG_CLUSTER_ID);
    assert_eq!(request["tags[1].value"], "php.c1");

    // Without the transform none of the recorded VMs is ours.
    let plain = CloudStackStub::start(API_KEY, SECRET, HashMap::new(), None).await;
    let driver = CloudStackIaas::new(&provider(&plain.endpoint(), SECRET)).unwrap();
    assert!(driver
        .describe_instances(&InstanceFilter::default())
        .await
        .unwrap()
        .is_empty());
}

/// The recorded VM list as a filtered `listVirtualMachines` would answer it: `vms` decides per
/// request which (adjusted) recorded VMs are listed.
fn answer_vms(
    vms: impl Fn(&HashMap<String, String>, &[Value]) -> Vec<Value> + Send + Sync + 'static,
) -> Transform {
    Arc::new(
        move |command: &str, request: &HashMap<String, String>, mut body: Value| {
            if command == "listVirtualMachines" {
                let recorded = body["listvirtualmachinesresponse"]["virtualmachine"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let listed = vms(request, &recorded);
                body["listvirtualmachinesresponse"] = if listed.is_empty() {
                    json!({})
                } else {
                    json!({"count": listed.len(), "virtualmachine": listed})
                };
            }
            body
        },
    )
}

/// Recorded VM `index` as deployed by a start of `member` that died before createTags: named
/// `vm_name(member)`, the member id as display name, none of our tags.
fn untagged_vm_of(recorded: &[Value], index: usize, member: &str, state: &str) -> Value {
    let mut vm = recorded[index].clone();
    vm["name"] = json!(vm_name(member));
    vm["displayname"] = json!(member);
    vm["state"] = json!(state);
    vm
}

fn tag_query(request: &HashMap<String, String>) -> bool {
    request.contains_key("tags[0].key")
}

fn name_query_for(request: &HashMap<String, String>, member: &str) -> bool {
    request.get("name") == Some(&vm_name(member))
}

fn keyword_query(request: &HashMap<String, String>) -> bool {
    request.get("keyword").map(String::as_str) == Some("alto-")
}

#[tokio::test]
async fn describe_instances_finds_vms_a_start_deployed_but_did_not_tag() {
    // VM 0: deployed for m7, never tagged. VM 1: a display name of a member but not our name.
    let transform = answer_vms(|request, recorded| {
        let ours = untagged_vm_of(recorded, 0, "m7", "Running");
        let mut foreign = recorded[1].clone();
        foreign["displayname"] = json!("m8");
        if tag_query(request) {
            recorded.to_vec() // tags of the cloud's own, none of ours
        } else if keyword_query(request) {
            vec![ours, foreign]
        } else if name_query_for(request, "m7") {
            vec![ours]
        } else {
            vec![]
        }
    });
    let stub = CloudStackStub::start(API_KEY, SECRET, HashMap::new(), Some(transform)).await;
    let driver = CloudStackIaas::new(&provider(&stub.endpoint(), SECRET)).unwrap();
    let recorded = fixture_json("cloudstack/listVirtualMachines_default.json");
    let vm0 = &recorded["listvirtualmachinesresponse"]["virtualmachine"][0];

    let all = driver
        .describe_instances(&InstanceFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].instance_id, id_text(&vm0["id"]));
    assert_eq!(all[0].member_id(), Some("m7"));
    assert_eq!(
        all[0].tags.get(TAG_MANAGED_BY).map(String::as_str),
        Some(MANAGED_BY_VALUE)
    );
    assert_eq!(all[0].tags.get(TAG_CLUSTER_ID), None, "not derivable");
    assert_eq!(all[0].state, InstanceState::Running);
    let requests = stub.requests().await;
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0]["tags[0].key"], TAG_MANAGED_BY);
    assert_eq!(requests[1]["keyword"], "alto-");

    let by_member = |m: &str| InstanceFilter {
        cluster_id: None,
        member_id: Some(m.into()),
    };
    let found = driver.describe_instances(&by_member("m7")).await.unwrap();
    assert_eq!(found, all);
    assert!(driver
        .describe_instances(&by_member("m8"))
        .await
        .unwrap()
        .is_empty());
    // A VM's cluster is only known from its tags.
    let before = stub.requests().await.len();
    let by_cluster = InstanceFilter {
        cluster_id: Some("php.c1".into()),
        member_id: None,
    };
    assert!(driver
        .describe_instances(&by_cluster)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(stub.requests().await.len(), before + 1, "no name query");
}

#[tokio::test]
async fn a_retried_start_tags_and_returns_the_vm_a_crashed_start_deployed() {
    // The first start's deployVirtualMachine was accepted, then the controller died: the VM is
    // untagged and still starting; polled by id it is running.
    let transform = answer_vms(|request, recorded| {
        if tag_query(request) {
            vec![]
        } else if name_query_for(request, "m1") {
            vec![untagged_vm_of(recorded, 0, "m1", "Starting")]
        } else if request.contains_key("id") {
            vec![untagged_vm_of(recorded, 0, "m1", "Running")]
        } else {
            vec![]
        }
    });
    let stub = CloudStackStub::start(API_KEY, SECRET, HashMap::new(), Some(transform)).await;
    let driver = CloudStackIaas::new(&provider(&stub.endpoint(), SECRET)).unwrap();
    let instance = driver
        .start_instance(&instance_spec("1", "105", "421"))
        .await
        .unwrap();
    let recorded = fixture_json("cloudstack/listVirtualMachines_default.json");
    let vm0 = &recorded["listvirtualmachinesresponse"]["virtualmachine"][0];
    assert_eq!(instance.instance_id, id_text(&vm0["id"]));
    assert_eq!(instance.state, InstanceState::Running);
    assert_eq!(
        instance.tags.get(TAG_CLUSTER_ID).map(String::as_str),
        Some("php.c1")
    );
    assert_eq!(instance.member_id(), Some("m1"));
    let requests = stub.requests().await;
    let commands: Vec<&str> = requests.iter().map(|r| r["command"].as_str()).collect();
    assert!(!commands.contains(&"deployVirtualMachine"), "{commands:?}");
    let tags_req = requests
        .iter()
        .find(|r| r["command"] == "createTags")
        .unwrap();
    assert_eq!(tags_req["resourceids"], instance.instance_id);
    let sent: BTreeMap<String, String> = (0..3)
        .map(|i| {
            (
                tags_req[&format!("tags[{i}].key")].clone(),
                tags_req[&format!("tags[{i}].value")].clone(),
            )
        })
        .collect();
    assert_eq!(sent, our_tags("m1"));
    assert!(requests.iter().any(
        |r| r["command"] == "listVirtualMachines" && r.get("id") == Some(&instance.instance_id)
    ));
}

#[tokio::test]
async fn a_retried_start_returns_the_members_tagged_vm_and_ignores_destroyed_ones() {
    let tagged = |recorded: &[Value], state: &str| {
        let mut vm = recorded[0].clone();
        vm["state"] = json!(state);
        vm["tags"] = json!(our_tags("m1")
            .into_iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect::<Vec<_>>());
        vm
    };
    let stub = CloudStackStub::start(
        API_KEY,
        SECRET,
        HashMap::new(),
        Some(answer_vms(move |request, recorded| {
            if tag_query(request) {
                vec![tagged(recorded, "Running")]
            } else {
                vec![]
            }
        })),
    )
    .await;
    let driver = CloudStackIaas::new(&provider(&stub.endpoint(), SECRET)).unwrap();
    let instance = driver
        .start_instance(&instance_spec("1", "105", "421"))
        .await
        .unwrap();
    assert_eq!(instance.member_id(), Some("m1"));
    assert_eq!(instance.state, InstanceState::Running);
    assert_eq!(
        stub.commands().await,
        ["listVirtualMachines", "listVirtualMachines"],
        "no deploy, no tagging: it is done"
    );

    // A destroyed VM of the member (not yet expunged) is not taken: a new one is deployed.
    let stub = CloudStackStub::start(
        API_KEY,
        SECRET,
        HashMap::new(),
        Some(answer_vms(move |request, recorded| {
            if tag_query(request) {
                vec![tagged(recorded, "Destroyed")]
            } else if name_query_for(request, "m1") {
                vec![untagged_vm_of(recorded, 1, "m1", "Expunging")]
            } else {
                vec![]
            }
        })),
    )
    .await;
    let driver = CloudStackIaas::new(&provider(&stub.endpoint(), SECRET)).unwrap();
    driver
        .start_instance(&instance_spec("1", "105", "421"))
        .await
        .unwrap();
    let commands = stub.commands().await;
    assert_eq!(commands[2], "deployVirtualMachine", "{commands:?}");
}

#[tokio::test]
async fn a_retried_start_of_a_vm_that_went_to_error_destroys_it() {
    let stub = CloudStackStub::start(
        API_KEY,
        SECRET,
        HashMap::new(),
        Some(answer_vms(|request, recorded| {
            if name_query_for(request, "m1") {
                vec![untagged_vm_of(recorded, 0, "m1", "Error")]
            } else {
                vec![]
            }
        })),
    )
    .await;
    let driver = CloudStackIaas::new(&provider(&stub.endpoint(), SECRET)).unwrap();
    let err = driver
        .start_instance(&instance_spec("1", "105", "421"))
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient, "{err}");
    assert_eq!(err.code.as_deref(), Some("Error"));
    let requests = stub.requests().await;
    let destroy = requests
        .iter()
        .find(|r| r["command"] == "destroyVirtualMachine")
        .unwrap();
    let recorded = fixture_json("cloudstack/listVirtualMachines_default.json");
    assert_eq!(
        destroy["id"],
        id_text(&recorded["listvirtualmachinesresponse"]["virtualmachine"][0]["id"])
    );
    assert!(!requests
        .iter()
        .any(|r| r["command"] == "deployVirtualMachine"));
}

#[test]
fn vm_names_are_host_names_tied_to_the_member_id() {
    for member in [
        "m1",
        "myphp.php.domain-0123456789abcdef0123456789abcdef",
        "ü/ ?x",
    ] {
        let name = vm_name(member);
        assert_eq!(name.len(), 21, "{name}");
        assert!(name.starts_with("alto-"));
        assert!(name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
        assert_eq!(name, vm_name(member), "stable");
    }
    assert_ne!(vm_name("m1"), vm_name("m2"));
}

#[tokio::test]
async fn terminate_destroys_with_expunge_and_waits() {
    let stub = stub().await;
    let driver = CloudStackIaas::new(&provider(&stub.endpoint(), SECRET)).unwrap();
    driver.terminate_instance("2602").await.unwrap();
    let requests = stub.requests().await;
    assert_eq!(requests[0]["command"], "destroyVirtualMachine");
    assert_eq!(requests[0]["id"], "2602");
    assert_eq!(requests[0]["expunge"], "true");
    let destroy = fixture_json("cloudstack/destroyVirtualMachine_default.json");
    assert_eq!(
        requests[1]["jobid"],
        id_text(&destroy["destroyvirtualmachineresponse"]["jobid"])
    );
}

#[tokio::test]
async fn a_refused_deploy_keeps_the_cloud_code_and_text() {
    let overrides = HashMap::from([(
        "deployVirtualMachine".to_string(),
        "deployVirtualMachine_deployfail.json".to_string(),
    )]);
    let stub = CloudStackStub::start(API_KEY, SECRET, overrides, None).await;
    let driver = CloudStackIaas::new(&provider(&stub.endpoint(), SECRET)).unwrap();
    let err = driver
        .start_instance(&instance_spec("1", "104", "421"))
        .await
        .unwrap_err();
    let recorded = fixture_json("cloudstack/deployVirtualMachine_deployfail.json");
    let inner = &recorded["deployvirtualmachineresponse"];
    assert_eq!(err.class, ErrorClass::InvalidRequest, "{err}");
    assert_eq!(
        err.code.as_deref(),
        Some(id_text(&inner["errorcode"]).as_str())
    );
    assert_eq!(err.message, inner["errortext"].as_str().unwrap());
    let printed = err.to_string();
    assert!(!printed.contains(SECRET) && !printed.contains("CARTRIDGE_KEY"));
    assert_eq!(
        stub.commands().await,
        [
            "listVirtualMachines",
            "listVirtualMachines",
            "deployVirtualMachine"
        ]
    );
}

#[tokio::test]
async fn a_wrong_secret_is_an_auth_error() {
    let stub = stub().await;
    let driver = CloudStackIaas::new(&provider(&stub.endpoint(), "not-the-secret")).unwrap();
    let err = driver
        .describe_instances(&InstanceFilter::default())
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth, "{err}");
    assert_eq!(err.code.as_deref(), Some("401"));
    assert!(!err.to_string().contains("not-the-secret"));
}

#[tokio::test]
async fn a_payload_over_the_get_limit_is_refused_before_any_call() {
    let stub = stub().await;
    let driver = CloudStackIaas::new(&provider(&stub.endpoint(), SECRET)).unwrap();
    let max = driver.capabilities().max_payload_bytes.unwrap();
    assert_eq!(max, 1536, "2048 bytes of base64");
    let mut spec = instance_spec("1", "105", "421");
    spec.payload = "x".repeat(max + 1);
    let err = driver.start_instance(&spec).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::InvalidRequest);
    assert!(stub.commands().await.is_empty());
    spec.payload = "x".repeat(max);
    driver.start_instance(&spec).await.unwrap();
}

#[test]
fn registry_builds_the_cloudstack_driver() {
    let registry = iaas::DriverRegistry::with_builtin();
    let mut spec = provider("http://127.0.0.1:9/client/api", SECRET);
    spec.provider = "something".into();
    spec.class_name =
        Some("org.apache.stratos.cloud.controller.iaases.cloudstack.CloudStackIaas".into());
    assert_eq!(registry.driver_name(&spec).as_deref(), Some("cloudstack"));
}
