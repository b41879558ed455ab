//! Paging over the REST API: every list route walks to its end by `X-Next-Cursor`, the
//! cluster view pages its members by `nextCursor`, and bad `limit`s and cursors are 400s.

use super::*;

/// GET `path` page by page (`limit` each) by `X-Next-Cursor`: every item, and the number of
/// pages. A list that does not end within 100 pages fails the test.
macro_rules! walk_list {
    ($app:expr, $path:expr, $limit:expr, $auth:expr) => {{
        let (path, limit): (&str, usize) = ($path, $limit);
        let mut items: Vec<Value> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let uri = match &cursor {
                Some(c) => format!("{path}?limit={limit}&cursor={c}"),
                None => format!("{path}?limit={limit}"),
            };
            let (status, headers, body) = send!($app, get(&uri, $auth));
            assert_eq!(status, 200, "{uri}: {body}");
            let page = body
                .as_array()
                .unwrap_or_else(|| panic!("{uri}: not an array: {body}"));
            assert!(page.len() <= limit, "{uri}: {} items", page.len());
            items.extend(page.iter().cloned());
            pages += 1;
            assert!(pages <= 100, "{path} did not end");
            let next = headers
                .get(paging::NEXT_CURSOR_HEADER)
                .map(|v| v.to_str().unwrap().to_string());
            let link = headers
                .get(header::LINK)
                .map(|v| v.to_str().unwrap().to_string());
            match next {
                Some(next) => {
                    assert_eq!(page.len(), limit, "{uri}: a short page before the end");
                    let link = link.unwrap_or_else(|| panic!("{uri}: X-Next-Cursor without Link"));
                    assert_eq!(
                        link,
                        format!("<{path}?limit={limit}&cursor={next}>; rel=\"next\"")
                    );
                    cursor = Some(next);
                }
                None => {
                    assert!(link.is_none(), "{uri}: Link on the last page");
                    break (items, pages);
                }
            }
        }
    }};
}

#[actix_web::test]
async fn definition_lists_walk_to_the_end() {
    let h = Harness::start("paging-definitions").await;
    let app = test::init_service(app(h.controller.clone())).await;
    for id in ["np-x", "np-y", "np-z"] {
        let np = json!({"id": id, "provider": "mock", "partitions": [{"id": "P1"}]});
        let (status, _, body) = send!(&app, post_json("/api/networkPartitions", admin(), &np));
        assert_eq!(status, 201, "{body}");
    }
    for (path, key) in [
        ("/api/cartridges", "type"),
        ("/api/autoscalingPolicies", "id"),
        ("/api/deploymentPolicies", "id"),
        ("/api/networkPartitions", "id"),
    ] {
        let (status, headers, whole) = send!(&app, get(path, admin()));
        assert_eq!(status, 200, "{path}: {whole}");
        assert!(headers.get(paging::NEXT_CURSOR_HEADER).is_none(), "{path}");
        let whole = whole.as_array().cloned().unwrap_or_default();
        assert!(
            whole.len() >= 2,
            "{path}: conf/ has at least two: {whole:?}"
        );
        let (walked, pages) = walk_list!(&app, path, 1, admin());
        assert_eq!(pages, whole.len(), "{path}: one item a page");
        let keys = |items: &[Value]| -> Vec<String> {
            items
                .iter()
                .map(|i| i[key].as_str().unwrap_or_default().to_string())
                .collect()
        };
        assert_eq!(
            keys(&walked),
            keys(&whole),
            "{path}: every item once, in order"
        );
        let (_, pages) = walk_list!(&app, path, whole.len(), admin());
        assert_eq!(pages, 1, "{path}: a page as long as the list is the last");
    }
    h.stop().await;
}

#[actix_web::test]
async fn bad_limits_and_cursors_are_400() {
    let h = Harness::start("paging-errors").await;
    let app = test::init_service(app(h.controller.clone())).await;
    let (_, headers, _) = send!(&app, get("/api/cartridges?limit=1", admin()));
    let cartridge_cursor = headers
        .get(paging::NEXT_CURSOR_HEADER)
        .expect("conf/ has two cartridges")
        .to_str()
        .unwrap()
        .to_string();
    for uri in [
        "/api/cartridges?limit=0".to_string(),
        "/api/cartridges?limit=1001".to_string(),
        "/api/cartridges?limit=ten".to_string(),
        "/api/clusters?limit=-1".to_string(),
        "/api/subscriptions?cursor=%25%25".to_string(),
        format!("/api/autoscalingPolicies?cursor={cartridge_cursor}"),
        format!("/api/clusters?cursor={}", "a".repeat(2000)),
    ] {
        let (status, _, body) = send!(&app, get(&uri, admin()));
        assert_error(status, &body, 400);
    }
    // The maximum is allowed; so is the cursor where it belongs.
    let (status, _, body) = send!(&app, get("/api/cartridges?limit=1000", admin()));
    assert_eq!(status, 200, "{body}");
    let uri = format!("/api/cartridges?cursor={cartridge_cursor}");
    let (status, _, body) = send!(&app, get(&uri, admin()));
    assert_eq!(status, 200, "{body}");
    h.stop().await;
}

#[actix_web::test]
async fn cluster_members_and_subscriptions_are_paged() {
    let h = Harness::start("paging-clusters").await;
    let app = test::init_service(app(h.controller.clone())).await;
    let tenant = create_tenant!(&app, "paging.example", "paging-pass-1");
    let mut cluster_ids = Vec::new();
    for alias in ["pa", "pb", "pc"] {
        let subscribe = json!({"cartridgeType": "php", "alias": alias, "autoscalePolicy": "economy", "deploymentPolicy": "economy-deployment"});
        let (status, _, sub) = send!(
            &app,
            post_json("/api/subscriptions", tenant.clone(), &subscribe)
        );
        assert_eq!(status, 201, "{sub}");
        cluster_ids.push(sub["clusterId"].as_str().expect("clusterId").to_string());
    }
    let (subs, pages) = walk_list!(&app, "/api/subscriptions", 2, tenant.clone());
    let aliases: Vec<&str> = subs.iter().filter_map(|s| s["alias"].as_str()).collect();
    assert_eq!((aliases, pages), (vec!["pa", "pb", "pc"], 2));
    let (clusters, pages) = walk_list!(&app, "/api/clusters", 2, tenant.clone());
    let mut listed: Vec<&str> = clusters
        .iter()
        .filter_map(|c| c["clusterId"].as_str())
        .collect();
    listed.sort();
    let mut expected: Vec<&str> = cluster_ids.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!((listed, pages), (expected, 2));

    // 25 members of history planted beside the controller's own: Terminated, so nothing acts
    // on them, and the cluster view lists them.
    let cluster_id = &cluster_ids[0];
    let registry = alto_registry::Registry::open(&h.dir.join("registry.db").display().to_string())
        .expect("a second handle on the registry");
    let mut planted = Vec::new();
    for i in 0..25 {
        let member_id = format!("{cluster_id}-planted-{i:02}");
        registry
            .insert_member(
                None,
                alto_registry::NewMember {
                    member_id: member_id.clone(),
                    cluster_id: cluster_id.clone(),
                    tenant_id: 1,
                    service_name: "php".into(),
                    network_partition_id: "np".into(),
                    partition_id: "p".into(),
                    provider_type: "mock".into(),
                    tags: Default::default(),
                },
            )
            .unwrap();
        registry
            .transition_member(&member_id, messaging::MemberState::Terminated)
            .unwrap();
        planted.push(member_id);
    }

    let base = format!("/api/clusters/{cluster_id}");
    let mut seen: Vec<String> = Vec::new();
    let mut uri = format!("{base}?limit=10");
    let mut pages = 0;
    loop {
        let (status, headers, cluster) = send!(&app, get(&uri, tenant.clone()));
        assert_eq!(status, 200, "{uri}: {cluster}");
        pages += 1;
        assert!(pages <= 20, "{base} did not end");
        let members = cluster["members"].as_array().expect("members");
        assert!(members.len() <= 10, "{uri}");
        let created: Vec<i64> = members
            .iter()
            .map(|m| m["createdAt"].as_i64().unwrap())
            .collect();
        assert!(
            created.windows(2).all(|w| w[0] <= w[1]),
            "oldest first: {created:?}"
        );
        seen.extend(
            members
                .iter()
                .map(|m| m["memberId"].as_str().unwrap().to_string()),
        );
        let counts = cluster["memberCounts"].as_object().expect("memberCounts");
        assert!(counts["Terminated"].as_i64().unwrap() >= 25, "{cluster}");
        let header = headers
            .get(paging::NEXT_CURSOR_HEADER)
            .map(|v| v.to_str().unwrap().to_string());
        match cluster["nextCursor"].as_str() {
            Some(next) => {
                assert_eq!(
                    header.as_deref(),
                    Some(next),
                    "the header carries the same cursor"
                );
                uri = format!("{base}?limit=10&cursor={next}");
            }
            None => {
                assert!(cluster["nextCursor"].is_null(), "{cluster}");
                assert_eq!(header, None);
                break;
            }
        }
    }
    assert!(pages >= 3, "25 planted members take at least 3 pages of 10");
    for id in &planted {
        assert_eq!(
            seen.iter().filter(|s| *s == id).count(),
            1,
            "{id} once in {seen:?}"
        );
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no member on two pages");
    // Without a limit: the first 100, the summary unchanged.
    let (status, _, whole) = send!(&app, get(&base, tenant.clone()));
    assert_eq!(status, 200);
    let first_page = whole["members"].as_array().map_or(0, Vec::len);
    assert!(
        (planted.len()..=100).contains(&first_page),
        "{first_page} members"
    );
    // A member cursor is refused by the cluster list, and the reconciliation report pages too.
    let (_, _, first) = send!(&app, get(&format!("{base}?limit=1"), tenant.clone()));
    let member_cursor = first["nextCursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let (status, _, body) = send!(
        &app,
        get(
            &format!("/api/clusters?cursor={member_cursor}"),
            tenant.clone()
        )
    );
    assert_error(status, &body, 400);
    let (status, _, report) = send!(&app, get("/api/reconcile?limit=5", admin()));
    assert_eq!(status, 200, "{report}");
    assert!(
        report["actions"].as_array().is_some_and(|a| a.len() <= 5),
        "{report}"
    );
    assert!(report.get("nextCursor").is_some(), "{report}");

    // The CLI's client, on a real socket, follows the pages to the same lists.
    let (server, addr) = bind(h.controller.clone(), "127.0.0.1:0".parse().unwrap()).expect("bind");
    let handle = server.handle();
    let task = actix_web::rt::spawn(server);
    let client = crate::cli::client::Client::new(&crate::cli::Connection {
        url: format!("http://{addr}"),
        user: "boss@paging.example".into(),
        password: Some("paging-pass-1".into()),
        json: true,
        ca_cert: None,
    })
    .unwrap();
    let subs = client.get_all(&["api", "subscriptions"], Some(1)).await.unwrap();
    let aliases: Vec<&str> = subs.as_array().unwrap().iter().filter_map(|s| s["alias"].as_str()).collect();
    assert_eq!(aliases, ["pa", "pb", "pc"]);
    let cluster = client.get_cluster_all(cluster_id, Some(7)).await.unwrap();
    let ids: Vec<&str> = cluster["members"].as_array().unwrap().iter().filter_map(|m| m["memberId"].as_str()).collect();
    for id in &planted {
        assert_eq!(ids.iter().filter(|s| **s == id.as_str()).count(), 1, "{id} once in {ids:?}");
    }
    assert!(cluster["nextCursor"].is_null(), "{cluster}");
    assert_eq!(cluster["clusterId"], cluster_id.as_str());
    handle.stop(true).await;
    task.await.unwrap().unwrap();
    h.stop().await;
}
