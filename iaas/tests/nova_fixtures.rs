//! The `openstack-nova` driver against Apache Libcloud's recorded OpenStack responses, served
//! by a local stub that checks the Keystone token on every call (see tests/libcloud/mod.rs).

mod libcloud;

use base64::Engine;
use iaas::nova::{server_name, NovaIaas, META_RELEASE_FLOATING_IP, META_VOLUMES};
use iaas::{
    ErrorClass, Iaas, InstanceFilter, InstanceSpec, InstanceState, Properties, ProviderSpec,
    Secret, MANAGED_BY_VALUE, TAG_CLUSTER_ID, TAG_MANAGED_BY, TAG_MEMBER_ID,
};
use libcloud::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PAYLOAD: &str = "SERVICE_NAME=php,CARTRIDGE_KEY=abc123,CLUSTER_ID=php.c1";
const PASSWORD: &str = "s3cret-pw";

struct Cloud {
    server: MockServer,
    compute: String,
    volume: String,
}

/// A stub with Keystone (recorded token, catalog rewritten to the stub) mounted.
async fn cloud() -> Cloud {
    let server = MockServer::start().await;
    let body = keystone_body(&server.uri());
    Mock::given(method("POST"))
        .and(path("/v3/auth/tokens"))
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("X-Subject-Token", KEYSTONE_TOKEN)
                .set_body_raw(body.clone(), "application/json"),
        )
        .mount(&server)
        .await;
    let compute = catalog_path(&body, "compute", &server.uri());
    let volume = catalog_path(&body, "volumev2", &server.uri());
    Cloud {
        server,
        compute,
        volume,
    }
}

impl Cloud {
    async fn mount(&self, verb: &str, at: String, response: ResponseTemplate) {
        Mock::given(method(verb))
            .and(path(at))
            .and(header("X-Auth-Token", KEYSTONE_TOKEN))
            .respond_with(response)
            .mount(&self.server)
            .await;
    }

    /// `servers/detail` answers Libcloud's recorded servers, none of them ours: a start finds no
    /// server of its member and creates one.
    async fn no_server_of_ours(&self) {
        self.mount(
            "GET",
            format!("{}/servers/detail", self.compute),
            json_response(200, "openstack_v1.1/_servers_detail.json"),
        )
        .await;
    }

    /// The query strings of the `servers/detail` requests.
    async fn detail_queries(&self) -> Vec<String> {
        let at = format!("{}/servers/detail", self.compute);
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.method.as_str() == "GET" && r.url.path() == at)
            .map(|r| r.url.query().unwrap_or_default().to_string())
            .collect()
    }

    fn provider(&self, extra: &[(&str, &str)]) -> ProviderSpec {
        let mut properties = Properties::new();
        properties.insert(
            "jclouds.endpoint".into(),
            format!("{}/v2.0", self.server.uri()),
        );
        properties.insert("openstack.poll.ms".into(), "5".into());
        properties.insert("openstack.retry.min.ms".into(), "5".into());
        properties.insert("openstack.boot.timeout.secs".into(), "5".into());
        for (k, v) in extra {
            properties.insert(k.to_string(), v.to_string());
        }
        let project = fixture_json("openstack/_v3__auth.json")["token"]["project"]["name"]
            .as_str()
            .unwrap()
            .to_string();
        ProviderSpec {
            provider_type: "os".into(),
            provider: "openstack-nova".into(),
            class_name: None,
            identity: Secret::new(format!("{project}:demo")),
            credential: Secret::new(PASSWORD),
            image_id: None,
            properties,
        }
    }
}

fn our_tags(member: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (TAG_MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (TAG_CLUSTER_ID.to_string(), "php.c1".to_string()),
        (TAG_MEMBER_ID.to_string(), member.to_string()),
    ])
}

fn instance_spec(props: &[(&str, &str)]) -> InstanceSpec {
    InstanceSpec {
        member_id: "m1".into(),
        cluster_id: "php.c1".into(),
        service_name: "php".into(),
        network_partition_id: "np1".into(),
        partition_id: "p1".into(),
        image_id: Some("RegionOne/img-7".into()),
        payload: PAYLOAD.into(),
        properties: props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        tags: our_tags("m1"),
        volumes: Vec::new(),
    }
}

fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn addrs(server: &Value) -> (Vec<String>, Vec<String>) {
    let mut public = vec![];
    let mut private = vec![];
    for (net, list) in server["addresses"].as_object().unwrap() {
        for a in list.as_array().unwrap() {
            let ip = a["addr"].as_str().unwrap().to_string();
            if net == "public" {
                public.push(ip)
            } else {
                private.push(ip)
            }
        }
    }
    (public, private)
}

#[tokio::test]
async fn start_instance_boots_associates_a_floating_ip_and_attaches_a_volume() {
    let c = cloud().await;
    let created = fixture_json("openstack_v1.1/_servers_create.json");
    let id = created["server"]["id"].as_str().unwrap().to_string();
    let building = fixture_json(&format!(
        "openstack_v1.1/_servers_{}.json",
        id.replace('-', "_")
    ));
    assert_eq!(building["server"]["status"], "BUILD");
    let active = fixture_json("openstack_v1.1/_servers_12064.json");
    assert_eq!(active["server"]["status"], "ACTIVE");
    let volume = fixture_json("openstack_v1.1/_v2_0__volume.json");
    let volume_id = volume["volume"]["id"].as_str().unwrap().to_string();
    let free_ip = fixture_json("openstack_v1.1/_floating_ips.json")["floating_ips"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["instance_id"].is_null())
        .unwrap()["ip"]
        .as_str()
        .unwrap()
        .to_string();

    let compute = &c.compute;
    c.no_server_of_ours().await;
    c.mount(
        "POST",
        format!("{compute}/servers"),
        json_response(202, "openstack_v1.1/_servers_create.json"),
    )
    .await;
    // First poll: still building; then active.
    Mock::given(method("GET"))
        .and(path(format!("{compute}/servers/{id}")))
        .respond_with(json_value_response(200, &building))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&c.server)
        .await;
    c.mount(
        "GET",
        format!("{compute}/servers/{id}"),
        json_value_response(200, &active),
    )
    .await;
    c.mount(
        "GET",
        format!("{compute}/os-floating-ips"),
        json_response(200, "openstack_v1.1/_floating_ips.json"),
    )
    .await;
    c.mount(
        "POST",
        format!("{compute}/servers/{id}/action"),
        ResponseTemplate::new(202),
    )
    .await;
    c.mount(
        "POST",
        format!("{}/volumes", c.volume),
        json_response(202, "openstack_v1.1/_v2_0__volume.json"),
    )
    .await;
    c.mount(
        "GET",
        format!("{}/volumes/{volume_id}", c.volume),
        json_response(200, "openstack_v1.1/_v2_0__volume.json"),
    )
    .await;
    c.mount(
        "POST",
        format!("{compute}/servers/{id}/os-volume_attachments"),
        json_response(
            200,
            "openstack_v1.1/_servers_12065_os_volume_attachments.json",
        ),
    )
    .await;
    c.mount(
        "POST",
        format!("{compute}/servers/{id}/metadata"),
        json_response(200, "openstack_v1.1/_servers_12063_metadata_two_keys.json"),
    )
    .await;

    let driver = NovaIaas::new(&c.provider(&[("region", "regionOne")])).unwrap();
    let spec = instance_spec(&[
        ("instanceType", "RegionOne/2"),
        ("keyPair", "alto-key"),
        ("securityGroups", "default, web"),
        ("networkIds", "net-1"),
        ("availabilityZone", "nova"),
        ("autoAssignIp", "false"),
        ("volume.required", "true"),
        ("volume.size.gb", "5"),
        ("volume.device.name", "/dev/vdc"),
    ]);
    let instance = driver.start_instance(&spec).await.unwrap();

    assert_eq!(instance.instance_id, id);
    assert_eq!(instance.state, InstanceState::Running);
    let (public, private) = addrs(&active["server"]);
    assert_eq!(instance.public_ips[0], free_ip);
    assert_eq!(instance.public_ips[1..], public[..]);
    assert_eq!(instance.private_ips, private);
    assert_eq!(instance.member_id(), Some("m1"));
    assert_eq!(instance.extra["volume_id"], volume_id);

    // Keystone: one token for the whole start, scoped to the project, password sent.
    let auth = bodies(&c.server, "POST", "/v3/auth/tokens").await;
    assert_eq!(auth.len(), 1, "the token is reused");
    let user = &auth[0]["auth"]["identity"]["password"]["user"];
    assert_eq!(user["name"], "demo");
    assert_eq!(user["password"], PASSWORD);
    assert_eq!(
        auth[0]["auth"]["scope"]["project"]["name"],
        fixture_json("openstack/_v3__auth.json")["token"]["project"]["name"]
    );

    let create = &bodies(&c.server, "POST", &format!("{compute}/servers")).await[0]["server"];
    let user_data = base64::engine::general_purpose::STANDARD
        .decode(create["user_data"].as_str().unwrap())
        .unwrap();
    assert_eq!(String::from_utf8(user_data).unwrap(), PAYLOAD);
    for (k, v) in our_tags("m1") {
        assert_eq!(create["metadata"][&k], v, "metadata {k}");
    }
    assert_eq!(create["metadata"][META_RELEASE_FLOATING_IP], "true");
    assert_eq!(create["flavorRef"], "2");
    assert_eq!(create["imageRef"], "img-7");
    assert_eq!(create["key_name"], "alto-key");
    assert_eq!(
        create["security_groups"],
        json!([{"name": "default"}, {"name": "web"}])
    );
    assert_eq!(create["networks"], json!([{"uuid": "net-1"}]));
    assert_eq!(create["availability_zone"], "nova");
    assert_eq!(create["name"], server_name("php.c1", "m1"));
    // The member's server was looked for first, by its name.
    assert_eq!(c.detail_queries().await, ["limit=1000&name=php-c1-m1"]);

    let action = bodies(&c.server, "POST", &format!("{compute}/servers/{id}/action")).await;
    assert_eq!(action, vec![json!({"addFloatingIp": {"address": free_ip}})]);
    let vol = &bodies(&c.server, "POST", &format!("{}/volumes", c.volume)).await[0];
    assert_eq!(vol["volume"]["size"], 5);
    assert_eq!(vol["volume"]["metadata"][TAG_MEMBER_ID], "m1");
    let attach = &bodies(
        &c.server,
        "POST",
        &format!("{compute}/servers/{id}/os-volume_attachments"),
    )
    .await[0];
    assert_eq!(
        attach["volumeAttachment"],
        json!({"volumeId": volume_id, "device": "/dev/vdc"})
    );
    let meta = &bodies(
        &c.server,
        "POST",
        &format!("{compute}/servers/{id}/metadata"),
    )
    .await[0];
    assert_eq!(meta["metadata"][META_VOLUMES], volume_id);
}

#[tokio::test]
async fn describe_instances_reads_servers_detail_and_keeps_only_ours() {
    let c = cloud().await;
    let mut detail = fixture_json("openstack_v1.1/_servers_detail.json");
    let recorded = detail["servers"][1].clone();
    // Libcloud's recorded servers carry no metadata of ours: add it to one of them.
    detail["servers"][1]["metadata"] = json!(our_tags("m9"));
    c.mount(
        "GET",
        format!("{}/servers/detail", c.compute),
        json_value_response(200, &detail),
    )
    .await;
    let driver = NovaIaas::new(&c.provider(&[])).unwrap();
    let found = driver
        .describe_instances(&InstanceFilter {
            cluster_id: Some("php.c1".into()),
            member_id: None,
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].instance_id, id_text(&recorded["id"]));
    assert_eq!(found[0].member_id(), Some("m9"));
    let expected_state = match recorded["status"].as_str().unwrap() {
        "ACTIVE" => InstanceState::Running,
        _ => InstanceState::Pending,
    };
    assert_eq!(found[0].state, expected_state);
    let (public, private) = addrs(&recorded);
    assert_eq!(found[0].public_ips, public);
    assert_eq!(found[0].private_ips, private);
    assert_eq!(
        found[0].extra["flavor"],
        recorded["flavor"]["id"].as_str().unwrap()
    );
}

#[tokio::test]
async fn an_expired_token_is_renewed_once_on_401() {
    let c = cloud().await;
    Mock::given(method("GET"))
        .and(path(format!("{}/servers/detail", c.compute)))
        .respond_with(ResponseTemplate::new(401).set_body_string("{\"error\": {\"message\": \"The request you have made requires authentication.\", \"code\": 401}}"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&c.server)
        .await;
    c.mount(
        "GET",
        format!("{}/servers/detail", c.compute),
        json_response(200, "openstack_v1.1/_servers_detail.json"),
    )
    .await;
    let driver = NovaIaas::new(&c.provider(&[])).unwrap();
    let found = driver
        .describe_instances(&InstanceFilter::default())
        .await
        .unwrap();
    assert!(found.is_empty(), "no recorded server is ours");
    assert_eq!(count(&c.server, "POST", "/v3/auth/tokens").await, 2);

    // A 401 that persists after re-authentication is an Auth error, not a loop.
    let c = cloud().await;
    c.mount(
        "GET",
        format!("{}/servers/detail", c.compute),
        ResponseTemplate::new(401),
    )
    .await;
    let driver = NovaIaas::new(&c.provider(&[])).unwrap();
    let err = driver
        .describe_instances(&InstanceFilter::default())
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth, "{err}");
    assert_eq!(count(&c.server, "POST", "/v3/auth/tokens").await, 2);
    assert!(!err.to_string().contains(PASSWORD));
}

#[tokio::test]
async fn terminate_deletes_the_server_releases_its_floating_ip_and_deletes_its_volume() {
    let c = cloud().await;
    let floating = fixture_json("openstack_v1.1/_floating_ips.json");
    let used = floating["floating_ips"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| !f["instance_id"].is_null())
        .unwrap()
        .clone();
    let id = used["instance_id"].as_str().unwrap().to_string();
    let volume_id = fixture_json("openstack_v1.1/_v2_0__volume.json")["volume"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut server = fixture_json("openstack_v1.1/_servers_12064.json");
    server["server"]["metadata"] =
        json!({META_RELEASE_FLOATING_IP: "true", META_VOLUMES: volume_id});
    let compute = &c.compute;
    c.mount(
        "GET",
        format!("{compute}/servers/{id}"),
        json_value_response(200, &server),
    )
    .await;
    c.mount(
        "GET",
        format!("{compute}/os-floating-ips"),
        json_value_response(200, &floating),
    )
    .await;
    c.mount(
        "DELETE",
        format!("{compute}/servers/{id}"),
        ResponseTemplate::new(204),
    )
    .await;
    c.mount(
        "DELETE",
        format!("{compute}/os-floating-ips/{}", used["id"].as_str().unwrap()),
        ResponseTemplate::new(202),
    )
    .await;
    c.mount(
        "GET",
        format!("{}/volumes/{volume_id}", c.volume),
        json_response(200, "openstack_v1.1/_v2_0__volume.json"),
    )
    .await;
    c.mount(
        "DELETE",
        format!("{}/volumes/{volume_id}", c.volume),
        ResponseTemplate::new(202),
    )
    .await;

    let driver = NovaIaas::new(&c.provider(&[])).unwrap();
    driver.terminate_instance(&id).await.unwrap();
    assert_eq!(
        count(&c.server, "DELETE", &format!("{compute}/servers/{id}")).await,
        1
    );
    assert_eq!(
        count(
            &c.server,
            "DELETE",
            &format!("{compute}/os-floating-ips/{}", used["id"].as_str().unwrap())
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &c.server,
            "DELETE",
            &format!("{}/volumes/{volume_id}", c.volume)
        )
        .await,
        1
    );
}

#[tokio::test]
async fn terminating_a_missing_server_is_not_found_with_the_cloud_message() {
    let c = cloud().await;
    c.mount(
        "GET",
        format!("{}/servers/gone", c.compute),
        json_response(404, "openstack_v1.1/_os_keypairs_not_found.json"),
    )
    .await;
    let driver = NovaIaas::new(&c.provider(&[])).unwrap();
    let err = driver.terminate_instance("gone").await.unwrap_err();
    let recorded = fixture_json("openstack_v1.1/_os_keypairs_not_found.json");
    assert_eq!(err.class, ErrorClass::NotFound, "{err}");
    assert_eq!(
        err.message,
        recorded["itemNotFound"]["message"].as_str().unwrap()
    );
    assert_eq!(err.code.as_deref(), Some("404 itemNotFound"));
    assert!(err.is_not_found());
}

#[tokio::test]
async fn a_server_that_goes_to_error_is_deleted_and_reported_with_its_fault() {
    let c = cloud().await;
    let recorded =
        fixture_json("openstack_v1.1/_servers_detail_ERROR_STATE.json")["servers"][0].clone();
    let id = recorded["id"].as_str().unwrap().to_string();
    c.no_server_of_ours().await;
    c.mount(
        "POST",
        format!("{}/servers", c.compute),
        json_value_response(202, &json!({"server": {"id": id}})),
    )
    .await;
    c.mount(
        "GET",
        format!("{}/servers/{id}", c.compute),
        json_value_response(200, &json!({"server": recorded})),
    )
    .await;
    c.mount(
        "DELETE",
        format!("{}/servers/{id}", c.compute),
        ResponseTemplate::new(204),
    )
    .await;
    let driver = NovaIaas::new(&c.provider(&[])).unwrap();
    let err = driver
        .start_instance(&instance_spec(&[
            ("instanceType", "4"),
            ("autoAssignIp", "true"),
        ]))
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient, "{err}");
    assert_eq!(err.message, recorded["fault"]["message"].as_str().unwrap());
    assert_eq!(
        count(&c.server, "DELETE", &format!("{}/servers/{id}", c.compute)).await,
        1
    );
}

#[tokio::test]
async fn quota_and_throttling_on_create_keep_code_message_and_retry_after() {
    let c = cloud().await;
    c.no_server_of_ours().await;
    c.mount("POST", format!("{}/servers", c.compute), ResponseTemplate::new(403).set_body_string(
        "{\"forbidden\": {\"message\": \"Quota exceeded for instances: Requested 1, but already used 10 of 10 instances\", \"code\": 403}}")).await;
    let driver = NovaIaas::new(&c.provider(&[])).unwrap();
    let spec = instance_spec(&[("instanceType", "4"), ("autoAssignIp", "true")]);
    let err = driver.start_instance(&spec).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Quota);
    assert_eq!(err.code.as_deref(), Some("403 forbidden"));
    assert!(!err.to_string().contains("CARTRIDGE_KEY"));

    let c = cloud().await;
    c.no_server_of_ours().await;
    c.mount(
        "POST",
        format!("{}/servers", c.compute),
        ResponseTemplate::new(429)
            .insert_header("Retry-After", "7")
            .set_body_string("<html>slow down</html>"),
    )
    .await;
    let driver = NovaIaas::new(&c.provider(&[])).unwrap();
    let err = driver.start_instance(&spec).await.unwrap_err();
    assert_eq!(
        err.class,
        ErrorClass::RateLimited {
            retry_after: Some(std::time::Duration::from_secs(7))
        }
    );
    assert_eq!(
        count(&c.server, "POST", &format!("{}/servers", c.compute)).await,
        1,
        "creates are never retried"
    );
}

/// Libcloud's recorded ACTIVE server 12064 as the member's server (our metadata and name), and
/// `servers/detail` listing it beside the other recorded server.
fn members_server(member: &str, extra_metadata: &[(&str, &str)]) -> (Value, Value) {
    let mut server = fixture_json("openstack_v1.1/_servers_12064.json");
    let mut metadata = json!(our_tags(member));
    for (k, v) in extra_metadata {
        metadata[*k] = json!(v);
    }
    server["server"]["metadata"] = metadata.clone();
    server["server"]["name"] = json!(server_name("php.c1", member));
    let mut detail = fixture_json("openstack_v1.1/_servers_detail.json");
    let listed = detail["servers"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["id"] == server["server"]["id"])
        .unwrap();
    listed["metadata"] = metadata;
    listed["name"] = server["server"]["name"].clone();
    (server, detail)
}

#[tokio::test]
async fn a_retried_start_returns_the_members_server_instead_of_creating_another() {
    let c = cloud().await;
    let (server, detail) = members_server("m1", &[]);
    let id = id_text(&server["server"]["id"]);
    c.mount(
        "GET",
        format!("{}/servers/detail", c.compute),
        json_value_response(200, &detail),
    )
    .await;
    c.mount(
        "GET",
        format!("{}/servers/{id}", c.compute),
        json_value_response(200, &server),
    )
    .await;
    let driver = NovaIaas::new(&c.provider(&[])).unwrap();
    let spec = instance_spec(&[("instanceType", "4"), ("autoAssignIp", "true")]);
    let first = driver.start_instance(&spec).await.unwrap();
    let again = driver.start_instance(&spec).await.unwrap();
    assert_eq!(first.instance_id, id);
    assert_eq!(again, first);
    assert_eq!(first.state, InstanceState::Running);
    assert_eq!(first.member_id(), Some("m1"));
    let (public, private) = addrs(&server["server"]);
    assert_eq!(
        (first.public_ips.clone(), first.private_ips.clone()),
        (public, private)
    );
    assert_eq!(
        count(&c.server, "POST", &format!("{}/servers", c.compute)).await,
        0,
        "no second server"
    );
    assert_eq!(
        c.detail_queries().await,
        ["limit=1000&name=php-c1-m1", "limit=1000&name=php-c1-m1"]
    );

    // A server of another member (the name filter is a pattern; the metadata decides), or one
    // without our marker, is not the member's: a new server is created.
    for metadata in [
        our_tags("m10"),
        BTreeMap::from([(TAG_MEMBER_ID.to_string(), "m1".to_string())]),
    ] {
        let c = cloud().await;
        let (_, mut detail) = members_server("m1", &[]);
        for s in detail["servers"].as_array_mut().unwrap() {
            if s["metadata"] != json!({}) {
                s["metadata"] = json!(metadata);
            }
        }
        c.mount(
            "GET",
            format!("{}/servers/detail", c.compute),
            json_value_response(200, &detail),
        )
        .await;
        c.mount(
            "POST",
            format!("{}/servers", c.compute),
            json_response(202, "openstack_v1.1/_servers_create.json"),
        )
        .await;
        let driver = NovaIaas::new(&c.provider(&[])).unwrap();
        let spec = instance_spec(&[
            ("instanceType", "4"),
            ("autoAssignIp", "true"),
            ("blockUntilRunning", "false"),
        ]);
        let created = driver.start_instance(&spec).await.unwrap();
        assert_eq!(
            created.instance_id,
            fixture_json("openstack_v1.1/_servers_create.json")["server"]["id"]
                .as_str()
                .unwrap()
        );
        assert_eq!(created.state, InstanceState::Pending);
        assert_eq!(
            count(&c.server, "POST", &format!("{}/servers", c.compute)).await,
            1
        );
    }
}

#[tokio::test]
async fn a_retried_start_finishes_the_floating_ip_and_volume_of_the_first_attempt() {
    // The first attempt created the server, associated a floating IP and created the volume,
    // then the controller died before attaching it.
    let c = cloud().await;
    let (server, detail) = members_server("m1", &[(META_RELEASE_FLOATING_IP, "true")]);
    let id = id_text(&server["server"]["id"]);
    let mut floating = fixture_json("openstack_v1.1/_floating_ips.json");
    let mine = floating["floating_ips"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|f| !f["instance_id"].is_null())
        .unwrap();
    mine["instance_id"] = json!(id);
    let floating_ip = mine["ip"].as_str().unwrap().to_string();
    let mut volumes = fixture_json("openstack_v1.1/_v2_0__volumes.json");
    let volume = &mut volumes["volumes"][0];
    volume["name"] = json!("alto-m1");
    volume["metadata"] = json!(our_tags("m1"));
    volume["attachments"] = json!([]);
    volume["status"] = json!("available");
    let volume_id = volume["id"].as_str().unwrap().to_string();
    let mut single = json!({"volume": volume.clone()});
    single["volume"]["status"] = json!("available");
    let compute = &c.compute;
    c.mount(
        "GET",
        format!("{compute}/servers/detail"),
        json_value_response(200, &detail),
    )
    .await;
    c.mount(
        "GET",
        format!("{compute}/servers/{id}"),
        json_value_response(200, &server),
    )
    .await;
    c.mount(
        "GET",
        format!("{compute}/os-floating-ips"),
        json_value_response(200, &floating),
    )
    .await;
    c.mount(
        "GET",
        format!("{}/volumes/detail", c.volume),
        json_value_response(200, &volumes),
    )
    .await;
    c.mount(
        "GET",
        format!("{}/volumes/{volume_id}", c.volume),
        json_value_response(200, &single),
    )
    .await;
    c.mount(
        "POST",
        format!("{compute}/servers/{id}/os-volume_attachments"),
        json_response(
            200,
            "openstack_v1.1/_servers_12065_os_volume_attachments.json",
        ),
    )
    .await;
    c.mount(
        "POST",
        format!("{compute}/servers/{id}/metadata"),
        json_response(200, "openstack_v1.1/_servers_12063_metadata_two_keys.json"),
    )
    .await;
    let driver = NovaIaas::new(&c.provider(&[])).unwrap();
    let spec = instance_spec(&[
        ("instanceType", "4"),
        ("autoAssignIp", "false"),
        ("volume.required", "true"),
    ]);
    let instance = driver.start_instance(&spec).await.unwrap();
    assert_eq!(instance.instance_id, id);
    assert_eq!(instance.public_ips[0], floating_ip);
    assert_eq!(instance.extra["volume_id"], volume_id);
    assert_eq!(
        count(&c.server, "POST", &format!("{compute}/servers")).await,
        0
    );
    assert_eq!(
        count(&c.server, "POST", &format!("{compute}/servers/{id}/action")).await,
        0,
        "the floating IP it has is kept"
    );
    assert_eq!(
        count(&c.server, "POST", &format!("{compute}/os-floating-ips")).await,
        0
    );
    assert_eq!(
        count(&c.server, "POST", &format!("{}/volumes", c.volume)).await,
        0
    );
    let volume_queries: Vec<String> = c
        .server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == format!("{}/volumes/detail", c.volume))
        .map(|r| r.url.query().unwrap_or_default().to_string())
        .collect();
    assert_eq!(volume_queries, ["name=alto-m1"]);
    let attach = bodies(
        &c.server,
        "POST",
        &format!("{compute}/servers/{id}/os-volume_attachments"),
    )
    .await;
    assert_eq!(
        attach,
        vec![json!({"volumeAttachment": {"volumeId": volume_id}})]
    );
    let meta = bodies(
        &c.server,
        "POST",
        &format!("{compute}/servers/{id}/metadata"),
    )
    .await;
    assert_eq!(meta, vec![json!({"metadata": {META_VOLUMES: volume_id}})]);

    // Once the volume is recorded on the server, a further retry changes nothing.
    let c2 = cloud().await;
    let (server, detail) = members_server(
        "m1",
        &[
            (META_RELEASE_FLOATING_IP, "true"),
            (META_VOLUMES, &volume_id),
        ],
    );
    c2.mount(
        "GET",
        format!("{}/servers/detail", c2.compute),
        json_value_response(200, &detail),
    )
    .await;
    c2.mount(
        "GET",
        format!("{}/servers/{id}", c2.compute),
        json_value_response(200, &server),
    )
    .await;
    c2.mount(
        "GET",
        format!("{}/os-floating-ips", c2.compute),
        json_value_response(200, &floating),
    )
    .await;
    let driver = NovaIaas::new(&c2.provider(&[])).unwrap();
    let again = driver.start_instance(&spec).await.unwrap();
    assert_eq!(again.instance_id, id);
    assert_eq!(again.extra["volume_id"], volume_id);
    let writes = c2
        .server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() != "GET" && r.url.path() != "/v3/auth/tokens")
        .count();
    assert_eq!(writes, 0, "nothing created, attached or recorded again");
}

#[test]
fn capabilities_and_registry() {
    let registry = iaas::DriverRegistry::with_builtin();
    let mut spec = ProviderSpec {
        provider_type: "os".into(),
        provider: "x".into(),
        class_name: Some(
            "org.apache.stratos.cloud.controller.iaases.openstack.OpenstackIaas".into(),
        ),
        identity: Secret::new("demo:demo"),
        credential: Secret::new("pw"),
        image_id: None,
        properties: Properties::from([(
            "jclouds.endpoint".to_string(),
            "http://127.0.0.1:9/".to_string(),
        )]),
    };
    assert_eq!(
        registry.driver_name(&spec).as_deref(),
        Some("openstack-nova")
    );
    let caps = NovaIaas::new(&spec).unwrap().capabilities();
    assert!(caps.floating_ips && caps.key_pairs && caps.volumes && caps.security_groups);
    assert_eq!(caps.max_payload_bytes, Some(49149));
    spec.identity = Secret::new("only-user");
    assert!(NovaIaas::new(&spec).is_err(), "no project");
    spec.properties.insert("project".into(), "p".into());
    assert!(NovaIaas::new(&spec).is_ok());
}
