//! Bulk loading, on both backends.

use super::*;

on_both_backends! {
    bulk_load_is_what_the_queries_return => sqlite_bulk_load_is_what_the_queries_return, postgres_bulk_load_is_what_the_queries_return;
    bulk_load_refuses_a_duplicate_id_whole => sqlite_bulk_load_refuses_a_duplicate_id_whole, postgres_bulk_load_refuses_a_duplicate_id_whole;
}

/// Subscription `alias` with `members` Active members named `<alias>-<n>`.
fn bulk(alias: &str, members: usize) -> BulkSubscription {
    let (subscription, cluster) = new_sub(1, alias);
    let cluster_id = cluster.cluster_id.clone();
    BulkSubscription {
        subscription,
        cluster,
        members: (0..members)
            .map(|n| BulkMember {
                member: new_member(&format!("{alias}-{n}"), &cluster_id),
                instance_id: format!("i-{alias}-{n}"),
                private_ip: format!("10.0.0.{n}"),
                public_ip: format!("20.0.0.{n}"),
            })
            .collect(),
    }
}

fn bulk_load_is_what_the_queries_return(f: &mut Fixture) {
    let r = f.registry().clone();
    // More members than one multi-row insert takes, so the chunking is exercised.
    let big = crate::bulk::ROWS_PER_INSERT + 7;
    assert_eq!(
        r.bulk_load(&[bulk("shop", big), bulk("blog", 3)]).unwrap(),
        big + 3
    );
    // A subscription created the ordinary way afterwards takes the next id.
    let (s, c) = new_sub(1, "later");
    let (later, _) = r.create_subscription(s, c).unwrap();
    let subs = r.list_subscriptions(Some(1)).unwrap();
    let ids: Vec<(String, i64)> = subs.iter().map(|s| (s.alias.clone(), s.id)).collect();
    assert_eq!(
        ids,
        [
            ("shop".to_string(), 1),
            ("blog".to_string(), 2),
            ("later".to_string(), 3)
        ]
    );
    assert_eq!(later.id, 3);
    assert!(subs.iter().all(|s| s.status == SubscriptionStatus::Active));

    let cluster = r.get_cluster("shop.php.domain").unwrap().unwrap();
    assert_eq!(cluster.status, ClusterStatus::Active);
    assert_eq!(cluster.alias, "shop");
    assert_eq!(cluster.cartridge_key, "KEY1234567890abc");
    assert_eq!(cluster.properties.get("a").map(String::as_str), Some("b"));

    let shop = r.list_members("shop.php.domain", false).unwrap();
    assert_eq!(shop.len(), big);
    let m = shop.iter().find(|m| m.member_id == "shop-5").unwrap();
    assert_eq!(m.state, Active);
    assert_eq!(m.instance_id.as_deref(), Some("i-shop-5"));
    assert_eq!(m.private_ips, ["10.0.0.5"]);
    assert_eq!(m.public_ips, ["20.0.0.5"]);
    assert_eq!(
        m.tags.get("altostratus:member-id").map(String::as_str),
        Some("shop-5")
    );
    assert!(m.activated_at.is_some() && m.started_at.is_some() && m.initialized_at.is_some());
    assert_eq!(r.get_member("blog-2").unwrap().unwrap().state, Active);
    assert_eq!(r.list_members_in_state(Active).unwrap().len(), big + 3);
    assert_eq!(r.count_live_members("mock", Some(1)).unwrap(), big + 3);
    assert_eq!(r.list_live_members().unwrap().len(), big + 3);
    // Loaded members follow the ordinary lifecycle from Active.
    walk(&r, "blog-0", &[ReadyToShutDown, Terminated]);
    assert_eq!(r.list_members("blog.php.domain", false).unwrap().len(), 2);
    // And it all survives a restart.
    drop(r);
    let r = f.reopen();
    assert_eq!(r.list_members_in_state(Active).unwrap().len(), big + 2);
}

fn bulk_load_refuses_a_duplicate_id_whole(f: &mut Fixture) {
    let r = f.registry().clone();
    r.bulk_load(&[bulk("shop", 3)]).unwrap();

    // A member id that exists: that subscription is refused whole (its cluster too), the ones
    // before it stay loaded.
    let mut clash = bulk("blog", 2);
    clash.members.push(BulkMember {
        member: new_member("shop-1", "blog.php.domain"),
        instance_id: "i-other".into(),
        private_ip: "10.9.9.9".into(),
        public_ip: "20.9.9.9".into(),
    });
    match r.bulk_load(&[bulk("wiki", 1), clash]) {
        Err(RegistryError::Conflict(what)) => assert!(what.contains("blog.php.domain"), "{what}"),
        other => panic!("expected a Conflict, got {other:?}"),
    }
    assert!(r.get_cluster("blog.php.domain").unwrap().is_none());
    assert!(r.get_subscription(1, "blog").unwrap().is_none());
    assert!(r.get_member("blog-0").unwrap().is_none());
    assert_eq!(
        r.get_member("shop-1")
            .unwrap()
            .unwrap()
            .instance_id
            .as_deref(),
        Some("i-shop-1"),
        "the existing member is untouched"
    );
    assert_eq!(r.list_members("wiki.php.domain", false).unwrap().len(), 1);

    // A cluster id that exists, and an alias that exists (under another cluster id).
    match r.bulk_load(&[bulk("shop", 1)]) {
        Err(RegistryError::Conflict(what)) => assert!(what.contains("shop.php.domain"), "{what}"),
        other => panic!("expected a Conflict, got {other:?}"),
    }
    let mut alias_taken = bulk("shop", 1);
    alias_taken.cluster.cluster_id = "elsewhere.php.domain".into();
    alias_taken.members[0].member.member_id = "elsewhere-0".into();
    alias_taken.members[0].member.cluster_id = "elsewhere.php.domain".into();
    match r.bulk_load(&[alias_taken]) {
        Err(RegistryError::Conflict(what)) => assert!(what.contains("shop"), "{what}"),
        other => panic!("expected a Conflict, got {other:?}"),
    }
    assert!(r.get_cluster("elsewhere.php.domain").unwrap().is_none());
    assert!(r.get_member("elsewhere-0").unwrap().is_none());
    assert_eq!(r.list_subscriptions(None).unwrap().len(), 2);
    assert_eq!(r.list_live_members().unwrap().len(), 4);
}
