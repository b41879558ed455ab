//! Stratos 4.1 definitions over REST: network partitions, GET/PUT/DELETE by id, 409s, every
//! posted field shown back, 501 for composite applications.

use super::*;

fn put_json(path: &str, auth: (header::HeaderName, String), body: &Value) -> test::TestRequest {
    test::TestRequest::put()
        .uri(path)
        .insert_header(auth)
        .set_json(body)
}

/// Every field of `posted` is in `shown` with the same value (numbers and strings compared by
/// their text, as a Jettison/Jackson client would round-trip them).
fn assert_contains(shown: &Value, posted: &Value, path: &str) {
    match (shown, posted) {
        (Value::Object(s), Value::Object(p)) => {
            for (k, v) in p {
                let got = s
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}.{k} missing from {shown}"));
                assert_contains(got, v, &format!("{path}.{k}"));
            }
        }
        (Value::Array(s), Value::Array(p)) => {
            assert_eq!(s.len(), p.len(), "{path}: {shown} vs {posted}");
            for (i, (s, p)) in s.iter().zip(p).enumerate() {
                assert_contains(s, p, &format!("{path}[{i}]"));
            }
        }
        (s, p) => {
            let text = |v: &Value| match v {
                Value::String(x) => x.clone(),
                other => other.to_string(),
            };
            assert_eq!(text(s), text(p), "{path}");
        }
    }
}

fn network_partition(id: &str, provider: &str) -> Value {
    json!({
        "id": id, "provider": provider,
        "partitions": [
            {"id": "P1", "description": "first", "property": [{"name": "region", "value": format!("{id}-r1")}]},
            {"id": "P2", "property": [{"name": "zone", "value": "z2"}]}
        ],
        "properties": [{"name": "payload_parameter.NP", "value": id}]
    })
}

#[actix_web::test]
async fn network_partitions_are_crud_with_409s_and_scoped_partition_ids() {
    let h = Harness::start("netparts").await;
    let app = test::init_service(app(h.controller.clone())).await;

    let np_a = network_partition("np-a", "mock");
    let (status, headers, body) = send!(&app, post_json("/api/networkPartitions", admin(), &np_a));
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        headers.get(header::LOCATION).and_then(|v| v.to_str().ok()),
        Some("/api/networkPartitions/np-a")
    );
    assert_contains(&body, &np_a, "created");
    // A second network partition holding partitions of the same ids, on another cloud.
    let np_b = network_partition("np-b", "mock-east");
    let (status, _, body) = send!(&app, post_json("/api/networkPartitions", admin(), &np_b));
    assert_eq!(status, 201, "{body}");

    // Duplicate POST: 409, and the first definition is untouched.
    let changed = json!({"id": "np-a", "provider": "mock-east", "partitions": [{"id": "X"}]});
    let (status, _, body) = send!(&app, post_json("/api/networkPartitions", admin(), &changed));
    assert_error(status, &body, 409);
    let (status, _, body) = send!(&app, get("/api/networkPartitions/np-a", admin()));
    assert_eq!(status, 200, "{body}");
    assert_contains(&body, &np_a, "np-a");
    let (status, _, list) = send!(&app, get("/api/networkPartitions", admin()));
    assert_eq!(status, 200);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert_eq!(ids, ["np-a", "np-b"], "{list}");

    // Invalid ones: an unknown cloud, no partitions, two partitions of one id.
    for bad in [
        json!({"id": "np-x", "provider": "nowhere", "partitions": [{"id": "P1"}]}),
        json!({"id": "np-x", "provider": "mock", "partitions": []}),
        json!({"id": "np-x", "provider": "mock", "partitions": [{"id": "P1"}, {"id": "P1"}]}),
        json!({"id": "np-x", "partitions": [{"id": "P1"}]}),
        json!(["not", "a", "network", "partition"]),
    ] {
        let (status, _, body) = send!(&app, post_json("/api/networkPartitions", admin(), &bad));
        assert_error(status, &body, 400);
    }

    // A 4.1 deployment policy placing partitions in both: `P1` means a different partition in each.
    let policy = json!({"id": "dp-41", "networkPartitions": [
        {"id": "np-a", "partitionAlgo": "one-after-another", "partitions": [{"id": "P1", "partitionMax": 3}]},
        {"id": "np-b", "partitionAlgo": "round-robin", "partitions": [{"id": "P1", "partitionMax": 2}, {"id": "P2", "partitionMax": 1}]}
    ]});
    let (status, _, body) = send!(&app, post_json("/api/deploymentPolicies", admin(), &policy));
    assert_eq!(status, 201, "{body}");
    {
        let config = h.controller.definitions_snapshot().unwrap();
        let dp = config
            .deployment_policies
            .iter()
            .find(|d| d.id == "dp-41")
            .unwrap();
        let resolved = crate::convert::deployment_policy(&config, dp).unwrap();
        let providers: Vec<(&str, &str, &str)> = resolved
            .network_partitions
            .iter()
            .flat_map(|np| {
                np.partitions
                    .iter()
                    .map(move |p| (np.id.as_str(), p.id.as_str(), p.provider_type.as_str()))
            })
            .collect();
        assert_eq!(
            providers,
            [
                ("np-a", "P1", "mock"),
                ("np-b", "P1", "mock-east"),
                ("np-b", "P2", "mock-east")
            ]
        );
        let g = &dp.partition_groups[1];
        let p1 = config.resolve_partition(g, &g.partitions[0]).unwrap();
        let props: Vec<(&str, &str)> = p1
            .properties
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_str()))
            .collect();
        assert!(props.contains(&("region", "np-b-r1")), "{props:?}");
        assert!(
            props.contains(&("payload_parameter.NP", "np-b")),
            "{props:?}"
        );
    }
    let (status, _, body) = send!(&app, get("/api/deploymentPolicies/dp-41", admin()));
    assert_eq!(status, 200, "{body}");
    assert_contains(&body, &policy, "dp-41");
    // A partition the network partition does not hold: 400 naming both.
    let ghost = json!({"id": "dp-ghost", "networkPartitions": [{"id": "np-a", "partitions": [{"id": "P9"}]}]});
    let (status, _, body) = send!(&app, post_json("/api/deploymentPolicies", admin(), &ghost));
    assert_error(status, &body, 400);
    assert!(
        body.to_string().contains("P9") && body.to_string().contains("np-a"),
        "{body}"
    );

    // In use: no DELETE, no PUT that drops a partition the policy names.
    let (status, _, body) = send!(&app, delete("/api/networkPartitions/np-b", admin()));
    assert_error(status, &body, 409);
    assert!(body.to_string().contains("dp-41"), "{body}");
    let without_p2 = json!({"id": "np-b", "provider": "mock-east", "partitions": [{"id": "P1"}]});
    let (status, _, body) = send!(
        &app,
        put_json("/api/networkPartitions", admin(), &without_p2)
    );
    assert_error(status, &body, 409);
    // A PUT that keeps them: 200, and GET shows the new definition.
    let mut np_b2 = network_partition("np-b", "mock-east");
    np_b2["partitions"][1]["property"][0]["value"] = json!("z2-new");
    let (status, _, body) = send!(
        &app,
        put_json("/api/networkPartitions/np-b", admin(), &np_b2)
    );
    assert_eq!(status, 200, "{body}");
    let (_, _, body) = send!(&app, get("/api/networkPartitions/np-b", admin()));
    assert_contains(&body, &np_b2, "np-b after PUT");
    // PUT of an unknown id: 404; to a path naming another id: 400.
    let (status, _, body) = send!(
        &app,
        put_json(
            "/api/networkPartitions",
            admin(),
            &network_partition("np-new", "mock")
        )
    );
    assert_error(status, &body, 404);
    let (status, _, body) = send!(
        &app,
        put_json("/api/networkPartitions/np-a", admin(), &np_b2)
    );
    assert_error(status, &body, 400);

    // Once the policy is gone the network partitions can go.
    let (status, _, body) = send!(&app, delete("/api/deploymentPolicies/dp-41", admin()));
    assert_eq!(status, 204, "{body}");
    let (status, _, body) = send!(&app, delete("/api/networkPartitions/np-b", admin()));
    assert_eq!(status, 204, "{body}");
    let (status, _, body) = send!(&app, get("/api/networkPartitions/np-b", admin()));
    assert_error(status, &body, 404);
    let (status, _, body) = send!(&app, delete("/api/networkPartitions/np-b", admin()));
    assert_error(status, &body, 404);

    // A tenant may read but not write.
    let tenant = create_tenant!(&app, "np.example", "np-pass-123");
    let (status, _, body) = send!(
        &app,
        post_json("/api/networkPartitions", tenant.clone(), &np_b)
    );
    assert_error(status, &body, 403);
    let (status, _, body) = send!(&app, delete("/api/networkPartitions/np-a", tenant.clone()));
    assert_error(status, &body, 403);
    let (status, _, _) = send!(&app, get("/api/networkPartitions/np-a", tenant));
    assert_eq!(status, 200);
    h.stop().await;
}

#[actix_web::test]
async fn network_partitions_survive_a_restart_with_their_posted_fields() {
    let h = Harness::start("np-restart").await;
    let service = test::init_service(app(h.controller.clone())).await;
    let np = network_partition("np-keep", "mock");
    let (status, _, body) = send!(&service, post_json("/api/networkPartitions", admin(), &np));
    assert_eq!(status, 201, "{body}");
    let cartridge = json!({"type": "keepme", "category": "framework", "multiTenant": "false",
        "portMapping": [{"name": "http-80", "protocol": "http", "port": "80", "proxyPort": "8280"}],
        "iaasProvider": [{"type": "mock", "imageId": "img", "networkInterfaces": [{"networkUuid": "n-1"}]}]});
    let (status, _, body) = send!(&service, post_json("/api/cartridges", admin(), &cartridge));
    assert_eq!(status, 201, "{body}");
    drop(service);
    let Harness { controller, dir } = h;
    controller.shutdown().await;
    drop(controller);

    // The same registry, a new controller.
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf");
    let mut opts = ControllerOptions::new(
        dir.join("registry.db").display().to_string(),
        dir.clone(),
        Arc::new(messaging::InProcessBus::new()),
        ADMIN_PASSWORD.to_string(),
    );
    opts.conf_dir = Some(conf);
    let controller = Controller::start(opts).await.expect("restart");
    let h = Harness { controller, dir };
    let service = test::init_service(app(h.controller.clone())).await;
    let (status, _, body) = send!(&service, get("/api/networkPartitions/np-keep", admin()));
    assert_eq!(status, 200, "{body}");
    assert_contains(&body, &np, "np-keep after restart");
    let (status, _, body) = send!(&service, get("/api/cartridges/keepme", admin()));
    assert_eq!(status, 200, "{body}");
    assert_contains(&body, &cartridge, "keepme after restart");
    h.stop().await;
}

#[actix_web::test]
async fn definitions_by_id_show_every_field_and_refuse_duplicates_and_removals_in_use() {
    let h = Harness::start("byid").await;
    let app = test::init_service(app(h.controller.clone())).await;

    // A 4.1 cartridge without `host`, with fields the controller keeps without acting on.
    let cartridge = json!({
        "type": "byid", "provider": "apache", "category": "framework", "displayName": "By id",
        "description": "a 4.1 cartridge", "version": "7", "multiTenant": "false",
        "loadBalancingIPType": "public", "metadataKeys": ["k1"],
        "portMapping": [{"name": "http-80", "protocol": "http", "port": "80", "proxyPort": "8280", "kubernetesPortType": "NodePort"}],
        "deployment": {"baseDir": "/var/www"},
        "iaasProvider": [{"type": "mock", "imageId": "mock-image-byid",
            "networkInterfaces": [{"networkUuid": "b55f009a", "floatingNetworks": [{"name": "public", "networkUuid": "f1"}]}],
            "property": [{"name": "instanceType", "value": "small"}]}],
        "property": [{"name": "payload_parameter.A", "value": "1"}]
    });
    let (status, _, body) = send!(&app, post_json("/api/cartridges", admin(), &cartridge));
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = send!(&app, post_json("/api/cartridges", admin(), &cartridge));
    assert_error(status, &body, 409);
    let (status, _, shown) = send!(&app, get("/api/cartridges/byid", admin()));
    assert_eq!(status, 200, "{shown}");
    assert_contains(&shown, &cartridge, "byid");
    // The list keeps its shape (the console and older clients read it).
    let (_, _, list) = send!(&app, get("/api/cartridges", admin()));
    let listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "byid")
        .unwrap();
    assert!(listed["iaasProviders"].is_array(), "{listed}");
    assert!(listed.get("host").is_none(), "{listed}");

    // An XML cartridge of conf/ reads back in 4.1's names too.
    let (status, _, php) = send!(&app, get("/api/cartridges/php", admin()));
    assert_eq!(status, 200, "{php}");
    assert!(php["iaasProvider"].is_array(), "{php}");
    assert!(php["portMapping"].is_array(), "{php}");
    assert_eq!(php["multiTenant"], json!(false), "{php}");

    // PUT replaces (Stratos' form: the type in the body), GET shows the new one.
    let mut changed = cartridge.clone();
    changed["displayName"] = json!("By id, changed");
    changed["category"] = json!("data");
    let (status, _, body) = send!(&app, put_json("/api/cartridges", admin(), &changed));
    assert_eq!(status, 200, "{body}");
    let (_, _, shown) = send!(&app, get("/api/cartridges/byid", admin()));
    assert_contains(&shown, &changed, "byid after PUT");
    let (status, _, body) = send!(&app, put_json("/api/cartridges/byid", admin(), &changed));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["category"], "data", "{body}");
    let (status, _, body) = send!(&app, put_json("/api/cartridges/other", admin(), &changed));
    assert_error(status, &body, 400);
    let mut unknown = cartridge.clone();
    unknown["type"] = json!("neverdeployed");
    let (status, _, body) = send!(&app, put_json("/api/cartridges", admin(), &unknown));
    assert_error(status, &body, 404);

    // Policies: the same.
    let autoscale = json!({"id": "byid-as", "displayName": "As", "loadThresholds": {"requestsInFlight": {"threshold": 20}, "loadAverage": {"threshold": 70}}});
    let (status, _, body) = send!(
        &app,
        post_json("/api/autoscalingPolicies", admin(), &autoscale)
    );
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = send!(
        &app,
        post_json("/api/autoscalingPolicies", admin(), &autoscale)
    );
    assert_error(status, &body, 409);
    let (status, _, shown) = send!(&app, get("/api/autoscalingPolicies/byid-as", admin()));
    assert_eq!(status, 200, "{shown}");
    assert_contains(&shown, &autoscale, "byid-as");
    // An XML policy of conf/ reads back in 4.1's shape.
    let (status, _, economy) = send!(&app, get("/api/autoscalingPolicies/economy", admin()));
    assert_eq!(status, 200, "{economy}");
    assert!(economy["loadThresholds"].is_object(), "{economy}");
    let deployment = json!({"id": "byid-dp", "partitionGroup": [{"id": "np", "partitionAlgo": "one-after-another",
        "partition": [{"id": "byid-p1", "provider": "mock", "partitionMin": "1", "partitionMax": "2"}]}]});
    let (status, _, body) = send!(
        &app,
        post_json("/api/deploymentPolicies", admin(), &deployment)
    );
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = send!(
        &app,
        post_json("/api/deploymentPolicies", admin(), &deployment)
    );
    assert_error(status, &body, 409);
    // A 4.0 policy reads back in 4.1's names.
    let (status, _, shown) = send!(&app, get("/api/deploymentPolicies/byid-dp", admin()));
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["networkPartitions"][0]["id"], "np", "{shown}");
    assert_eq!(
        shown["networkPartitions"][0]["partitions"][0]["id"], "byid-p1",
        "{shown}"
    );
    // ... and keeps the client's own spelling too.
    assert_contains(&shown, &deployment, "byid-dp");
    for path in [
        "/api/autoscalingPolicies/nothing",
        "/api/deploymentPolicies/nothing",
        "/api/cartridges/nothing",
        "/api/networkPartitions/nothing",
    ] {
        let (status, _, body) = send!(&app, get(path, admin()));
        assert_error(status, &body, 404);
        let (status, _, body) = send!(&app, delete(path, admin()));
        assert_error(status, &body, 404);
    }

    // While a subscription uses them, none of the three can go.
    let tenant = create_tenant!(&app, "byid.example", "byid-pass-1");
    let subscribe = json!({"cartridgeType": "byid", "alias": "shop", "autoscalePolicy": "byid-as", "deploymentPolicy": "byid-dp"});
    let (status, _, sub) = send!(
        &app,
        post_json("/api/subscriptions", tenant.clone(), &subscribe)
    );
    assert_eq!(status, 201, "{sub}");
    // No `host`: the host name is built on the cartridge type.
    let cluster_id = sub["clusterId"].as_str().unwrap().to_string();
    let (_, _, cluster) = send!(
        &app,
        get(&format!("/api/clusters/{cluster_id}"), tenant.clone())
    );
    assert_eq!(cluster["hostName"], "shop.byid", "{cluster}");
    for path in [
        "/api/cartridges/byid",
        "/api/autoscalingPolicies/byid-as",
        "/api/deploymentPolicies/byid-dp",
    ] {
        let (status, _, body) = send!(&app, delete(path, admin()));
        assert_error(status, &body, 409);
        assert!(body.to_string().contains("shop"), "{path}: {body}");
    }

    // The running cluster uses an updated policy's thresholds from its next evaluation.
    let decisions = format!("/api/clusters/{cluster_id}/decisions");
    let threshold_seen = |records: &Value, want: f64| {
        records.as_array().is_some_and(|rs| {
            rs.iter().any(|r| {
                r["networkPartitions"].as_array().is_some_and(|nps| {
                    nps.iter().any(|np| {
                        np["metrics"].as_array().is_some_and(|ms| {
                            ms.iter().any(|m| {
                                m["metric"] == "requestsInFlight"
                                    && m["threshold"].as_f64() == Some(want)
                            })
                        })
                    })
                })
            })
        })
    };
    let wait_for_threshold = |want: f64| {
        let app = &app;
        let tenant = tenant.clone();
        let decisions = decisions.clone();
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            loop {
                let (status, _, records) = send!(app, get(&decisions, tenant.clone()));
                assert_eq!(status, 200, "{records}");
                if threshold_seen(&records, want) {
                    return;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "no decision with requestsInFlight threshold {want}: {records}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    wait_for_threshold(20.0).await;
    let mut raised = autoscale.clone();
    raised["loadThresholds"]["requestsInFlight"]["threshold"] = json!(77);
    let (status, _, body) = send!(
        &app,
        put_json("/api/autoscalingPolicies/byid-as", admin(), &raised)
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["loadThresholds"]["requestsInFlight"]["threshold"],
        json!(77),
        "{body}"
    );
    wait_for_threshold(77.0).await;
    h.stop().await;
}

#[actix_web::test]
async fn composite_application_routes_answer_501_naming_the_feature() {
    let h = Harness::start("501").await;
    let app = test::init_service(app(h.controller.clone())).await;
    for (method, path, feature) in [
        ("GET", "/api/applications", "applications"),
        ("POST", "/api/applications", "applications"),
        (
            "POST",
            "/api/applications/app1/deploy/policy1",
            "applications",
        ),
        ("DELETE", "/api/applications/app1", "applications"),
        ("GET", "/api/cartridgeGroups", "cartridge groups"),
        ("PUT", "/api/cartridgeGroups/g1", "cartridge groups"),
        ("GET", "/api/applicationPolicies/p1", "application policies"),
        ("POST", "/api/applicationPolicies", "application policies"),
    ] {
        let req = test::TestRequest::default()
            .method(method.parse().unwrap())
            .uri(path)
            .insert_header(admin())
            .set_json(json!({"applicationId": "app1"}));
        let (status, _, body) = send!(&app, req);
        assert_error(status, &body, 501);
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(feature), "{method} {path}: {message}");
        assert!(message.contains(path), "{method} {path}: {message}");
    }
    let (status, _, body) = send!(&app, test::TestRequest::get().uri("/api/applications"));
    assert_error(status, &body, 401);
    h.stop().await;
}
