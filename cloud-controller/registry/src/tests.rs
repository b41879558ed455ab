//! The registry suite, run once against SQLite and once against PostgreSQL.

use super::*;
use messaging::MemberState::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A registry on a fresh backend, cleaned up on drop.
struct Fixture {
    registry: Option<Registry>,
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    File(PathBuf),
    Database { admin_url: String, name: String },
}

impl Fixture {
    fn registry(&self) -> &Registry {
        self.registry.as_ref().expect("open registry")
    }

    /// Drop the handle and open the same database again (a process restart).
    fn reopen(&mut self) -> Registry {
        self.registry = None;
        let r = Registry::open(&self.url).expect("reopen registry");
        self.registry = Some(r.clone());
        r
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.registry = None;
        match &self.cleanup {
            Cleanup::File(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Database { admin_url, name } => {
                if let Ok(mut c) = PgConnection::establish(admin_url) {
                    let _ =
                        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                }
            }
        }
    }
}

fn sqlite() -> Fixture {
    let dir = std::env::temp_dir().join(format!("alto-registry-{}", rand::random::<u64>()));
    let url = dir.join("registry.db").display().to_string();
    let registry = Registry::open(&url).expect("open sqlite registry");
    assert_eq!(registry.backend(), Backend::Sqlite);
    Fixture {
        registry: Some(registry),
        url,
        cleanup: Cleanup::File(dir),
    }
}

fn postgres() -> Fixture {
    let admin_url = std::env::var("ALTO_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let mut admin = PgConnection::establish(&admin_url).unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable at {admin_url}: {e}\nStart it with scripts/services.sh or \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
        )
    });
    let name = format!("alto_test_{}", rand::random::<u32>());
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create test database");
    let url = match admin_url.rsplit_once('/') {
        Some((prefix, _)) => format!("{prefix}/{name}"),
        None => panic!("ALTO_TEST_POSTGRES_URL has no database part: {admin_url}"),
    };
    let registry = Registry::open(&url).expect("open postgres registry");
    assert_eq!(registry.backend(), Backend::Postgres);
    Fixture {
        registry: Some(registry),
        url,
        cleanup: Cleanup::Database { admin_url, name },
    }
}

/// Each scenario runs on both backends as `sqlite_<name>` and `postgres_<name>`.
macro_rules! on_both_backends {
    ($($scenario:ident => $sqlite:ident, $postgres:ident;)+) => {
        $(
            #[test]
            fn $sqlite() {
                let mut f = sqlite();
                $scenario(&mut f);
            }
            #[test]
            fn $postgres() {
                let mut f = postgres();
                $scenario(&mut f);
            }
        )+
    };
}

on_both_backends! {
    migrations_are_idempotent => sqlite_migrations_are_idempotent, postgres_migrations_are_idempotent;
    definitions_upsert_list_delete => sqlite_definitions_upsert_list_delete, postgres_definitions_upsert_list_delete;
    definitions_create_refuses_duplicates_and_update_needs_one => sqlite_definitions_create_refuses_duplicates, postgres_definitions_create_refuses_duplicates;
    tenants_and_users => sqlite_tenants_and_users, postgres_tenants_and_users;
    subscription_and_cluster_are_atomic => sqlite_subscription_and_cluster_are_atomic, postgres_subscription_and_cluster_are_atomic;
    resubscribe_after_removal => sqlite_resubscribe_after_removal, postgres_resubscribe_after_removal;
    tenant_scoping => sqlite_tenant_scoping, postgres_tenant_scoping;
    member_lifecycle_and_timestamps => sqlite_member_lifecycle_and_timestamps, postgres_member_lifecycle_and_timestamps;
    duplicate_transition_is_unchanged => sqlite_duplicate_transition_is_unchanged, postgres_duplicate_transition_is_unchanged;
    illegal_transitions_change_nothing => sqlite_illegal_transitions_change_nothing, postgres_illegal_transitions_change_nothing;
    live_members => sqlite_live_members, postgres_live_members;
    concurrent_writers => sqlite_concurrent_writers, postgres_concurrent_writers;
    data_survives_reopen => sqlite_data_survives_reopen, postgres_data_survives_reopen;
    secrets_never_print => sqlite_secrets_never_print, postgres_secrets_never_print;
    cleanup_request_is_set_once => sqlite_cleanup_request_is_set_once, postgres_cleanup_request_is_set_once;
    cleanup_requests_survive_reopen => sqlite_cleanup_requests_survive_reopen, postgres_cleanup_requests_survive_reopen;
    live_member_counts => sqlite_live_member_counts, postgres_live_member_counts;
    members_in_state => sqlite_members_in_state, postgres_members_in_state;
}

mod batch;
mod bulk;
mod decisions;
mod grants;
mod leadership;
mod pages;

fn new_sub(tenant: i64, alias: &str) -> (NewSubscription, NewCluster) {
    let cluster_id = format!("{alias}.php.domain");
    (
        NewSubscription {
            tenant_id: tenant,
            alias: alias.into(),
            cartridge_type: "php".into(),
            autoscale_policy: "as".into(),
            deployment_policy: "dp".into(),
        },
        NewCluster {
            cluster_id,
            service_name: "php".into(),
            host_name: format!("{alias}.php.example"),
            tenant_id: tenant,
            autoscale_policy: "as".into(),
            deployment_policy: "dp".into(),
            cartridge_key: "KEY1234567890abc".into(),
            properties: BTreeMap::from([("a".to_string(), "b".to_string())]),
        },
    )
}

fn new_member(id: &str, cluster: &str) -> NewMember {
    NewMember {
        member_id: id.into(),
        cluster_id: cluster.into(),
        tenant_id: 1,
        service_name: "php".into(),
        network_partition_id: "np1".into(),
        partition_id: "p1".into(),
        provider_type: "mock".into(),
        tags: BTreeMap::from([("altostratus:member-id".to_string(), id.to_string())]),
    }
}

/// Move `id` through `path` (each step one legal transition).
fn walk(r: &Registry, id: &str, path: &[MemberState]) {
    for &to in path {
        assert!(
            matches!(
                r.transition_member(id, to).unwrap(),
                Transition::Moved { .. }
            ),
            "{id} did not move to {to}"
        );
    }
}

fn migrations_are_idempotent(f: &mut Fixture) {
    f.registry()
        .put_definition(DefinitionKind::Cartridge, "php", "<cartridge/>")
        .unwrap();
    let r = f.reopen();
    let r2 = Registry::open(&f.url).expect("open a second time");
    assert_eq!(
        r.list_definitions(DefinitionKind::Cartridge).unwrap().len(),
        1
    );
    drop(r2);
}

fn definitions_upsert_list_delete(f: &mut Fixture) {
    let r = f.registry();
    let first = r
        .put_definition(DefinitionKind::Cartridge, "php", "v1")
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let second = r
        .put_definition(DefinitionKind::Cartridge, "php", "v2")
        .unwrap();
    assert_eq!(second.body, "v2");
    assert_eq!(second.created_at, first.created_at);
    assert!(second.updated_at >= first.updated_at);
    r.put_definition(DefinitionKind::Cartridge, "apache", "a")
        .unwrap();
    r.put_definition(DefinitionKind::AutoscalePolicy, "php", "policy")
        .unwrap();
    let ids: Vec<String> = r
        .list_definitions(DefinitionKind::Cartridge)
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(ids, ["apache", "php"]);
    assert!(r
        .delete_definition(DefinitionKind::Cartridge, "php")
        .unwrap());
    assert!(!r
        .delete_definition(DefinitionKind::Cartridge, "php")
        .unwrap());
    assert!(r
        .get_definition(DefinitionKind::Cartridge, "php")
        .unwrap()
        .is_none());
    assert_eq!(
        r.get_definition(DefinitionKind::AutoscalePolicy, "php")
            .unwrap()
            .unwrap()
            .body,
        "policy"
    );
}

fn definitions_create_refuses_duplicates_and_update_needs_one(f: &mut Fixture) {
    let r = f.registry();
    let kind = DefinitionKind::NetworkPartition;
    assert!(!r.update_definition(kind, "np1", "v0").unwrap());
    assert!(r.get_definition(kind, "np1").unwrap().is_none());
    assert!(r.create_definition(kind, "np1", "v1").unwrap());
    assert!(!r.create_definition(kind, "np1", "v2").unwrap());
    assert_eq!(r.get_definition(kind, "np1").unwrap().unwrap().body, "v1");
    assert!(r.update_definition(kind, "np1", "v3").unwrap());
    assert_eq!(r.get_definition(kind, "np1").unwrap().unwrap().body, "v3");
    // Kinds are apart: the same id of another kind is new.
    assert!(r
        .create_definition(DefinitionKind::DeploymentPolicy, "np1", "d")
        .unwrap());
    assert_eq!(r.list_definitions(kind).unwrap().len(), 1);
}

fn tenants_and_users(f: &mut Fixture) {
    let r = f.registry();
    r.ensure_admin("hash-1").unwrap();
    r.ensure_admin("hash-2").unwrap();
    let admin = r.get_user("admin").unwrap().unwrap();
    assert_eq!(
        (admin.role, admin.tenant_id, admin.password_hash.as_str()),
        (Role::Admin, SUPER_TENANT_ID, "hash-2")
    );
    let nt = |d: &str| NewTenant {
        domain: d.into(),
        email: format!("a@{d}"),
        admin_username: "boss".into(),
        admin_password_hash: "h".into(),
    };
    let a = r.create_tenant(nt("acme.org")).unwrap();
    let b = r.create_tenant(nt("beta.org")).unwrap();
    assert_eq!((a.id, b.id), (1, 2));
    let boss = r.get_user("boss@acme.org").unwrap().unwrap();
    assert_eq!((boss.tenant_id, boss.role), (1, Role::TenantAdmin));
    match r.create_tenant(nt("acme.org")) {
        Err(RegistryError::Conflict(m)) => assert!(m.contains("acme.org"), "{m}"),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(r.list_tenants().unwrap().len(), 2);
    assert_eq!(r.get_tenant_by_domain("beta.org").unwrap().unwrap().id, 2);
    assert!(r.get_tenant(9).unwrap().is_none());
}

fn subscription_and_cluster_are_atomic(f: &mut Fixture) {
    let r = f.registry();
    let (s, c) = new_sub(1, "shop");
    let (sub, cluster) = r.create_subscription(s.clone(), c.clone()).unwrap();
    assert_eq!(sub.cluster_id, "shop.php.domain");
    assert_eq!(sub.status, SubscriptionStatus::Active);
    assert_eq!(cluster.alias, "shop");
    assert_eq!(cluster.status, ClusterStatus::Created);
    assert_eq!(cluster.properties.get("a").map(String::as_str), Some("b"));
    // Same alias again: conflict, and no second cluster or subscription appears.
    let mut c2 = c.clone();
    c2.cluster_id = "other.php.domain".into();
    assert!(matches!(
        r.create_subscription(s, c2),
        Err(RegistryError::Conflict(_))
    ));
    assert!(r.get_cluster("other.php.domain").unwrap().is_none());
    // Same cluster id from another tenant: conflict, and no subscription row is left behind.
    let (mut s3, c3) = new_sub(2, "shop");
    s3.tenant_id = 2;
    assert!(matches!(
        r.create_subscription(s3, c3),
        Err(RegistryError::Conflict(_))
    ));
    assert!(r.get_subscription(2, "shop").unwrap().is_none());
    assert_eq!(r.list_subscriptions(None).unwrap().len(), 1);
}

fn resubscribe_after_removal(f: &mut Fixture) {
    let r = f.registry();
    let (s, c) = new_sub(1, "shop");
    r.create_subscription(s.clone(), c.clone()).unwrap();
    r.insert_member(None, new_member("m1", "shop.php.domain"))
        .unwrap();
    r.append_decision("shop.php.domain", "{}", 10).unwrap();
    r.put_payload_grant("h-m1", "m1", "P", i64::MAX).unwrap();
    r.set_subscription_status(1, "shop", SubscriptionStatus::Unsubscribing)
        .unwrap();
    assert_eq!(
        r.get_subscription(1, "shop").unwrap().unwrap().status,
        SubscriptionStatus::Unsubscribing
    );
    r.set_cluster_status("shop.php.domain", ClusterStatus::Removed)
        .unwrap();
    assert!(r.delete_subscription(1, "shop").unwrap());
    assert!(r.list_clusters(None, false).unwrap().is_empty());
    assert_eq!(r.list_clusters(None, true).unwrap().len(), 1);
    r.create_subscription(s, c).unwrap();
    assert_eq!(
        r.get_cluster("shop.php.domain").unwrap().unwrap().status,
        ClusterStatus::Created
    );
    assert!(
        r.list_members("shop.php.domain", true).unwrap().is_empty(),
        "old members belong to the removed cluster"
    );
    assert!(
        r.list_decisions("shop.php.domain").unwrap().is_empty(),
        "old decisions belong to the removed cluster"
    );
    assert_eq!(r.take_payload_grant("h-m1", 0).unwrap(), None);
}

fn tenant_scoping(f: &mut Fixture) {
    let r = f.registry();
    let (s, c) = new_sub(1, "a1");
    r.create_subscription(s, c).unwrap();
    let (s, c) = new_sub(2, "b1");
    r.create_subscription(s, c).unwrap();
    let mine: Vec<String> = r
        .list_subscriptions(Some(1))
        .unwrap()
        .into_iter()
        .map(|s| s.alias)
        .collect();
    assert_eq!(mine, ["a1"]);
    let theirs: Vec<String> = r
        .list_clusters(Some(2), false)
        .unwrap()
        .into_iter()
        .map(|c| c.cluster_id)
        .collect();
    assert_eq!(theirs, ["b1.php.domain"]);
    assert!(r.get_subscription(1, "b1").unwrap().is_none());
    assert_eq!(r.list_subscriptions(None).unwrap().len(), 2);
}

fn member_lifecycle_and_timestamps(f: &mut Fixture) {
    let r = f.registry();
    let m = r.insert_member(None, new_member("m1", "c1")).unwrap();
    assert_eq!(m.state, Created);
    assert_eq!(
        m.tags.get("altostratus:member-id").map(String::as_str),
        Some("m1")
    );
    let m = r
        .set_member_instance("m1", "i-1", &["10.0.0.1".into()], &["20.0.0.1".into()])
        .unwrap();
    assert_eq!(
        (m.instance_id.as_deref(), m.private_ips.clone()),
        (Some("i-1"), vec!["10.0.0.1".to_string()])
    );
    for (to, stamp) in [
        (Initialized, 0),
        (Starting, 1),
        (Active, 2),
        (InMaintenance, 9),
        (ReadyToShutDown, 3),
        (Terminated, 4),
    ] {
        match r.transition_member("m1", to).unwrap() {
            Transition::Moved { member, .. } => {
                assert_eq!(member.state, to);
                let value = match stamp {
                    0 => member.initialized_at,
                    1 => member.started_at,
                    2 => member.activated_at,
                    3 => member.terminate_requested_at,
                    4 => member.terminated_at,
                    _ => Some(member.updated_at),
                };
                assert!(value.is_some(), "{to} timestamp not set");
            }
            other => panic!("expected a move to {to}, got {other:?}"),
        }
    }
    assert!(matches!(
        r.transition_member("m1", Terminated).unwrap(),
        Transition::Unchanged(_)
    ));
    r.insert_member(None, new_member("m2", "c1")).unwrap();
    let live: Vec<String> = r
        .list_live_members()
        .unwrap()
        .into_iter()
        .map(|m| m.member_id)
        .collect();
    assert_eq!(live, ["m2"]);
    assert_eq!(r.list_members("c1", false).unwrap().len(), 1);
    assert_eq!(r.list_members("c1", true).unwrap().len(), 2);
    r.set_member_error("m2", "quota").unwrap();
    r.set_termination_reason("m2", "unsubscribed").unwrap();
    let m2 = r.get_member("m2").unwrap().unwrap();
    assert_eq!(
        (m2.last_error.as_deref(), m2.termination_reason.as_deref()),
        (Some("quota"), Some("unsubscribed"))
    );
    assert!(matches!(
        r.transition_member("nope", Active),
        Err(RegistryError::NotFound(_))
    ));
    assert!(matches!(
        r.insert_member(None, new_member("m2", "c1")),
        Err(RegistryError::Conflict(_))
    ));
}

fn illegal_transitions_change_nothing(f: &mut Fixture) {
    let r = f.registry();
    r.insert_member(None, new_member("m1", "c1")).unwrap();
    for to in [Initialized, Starting, Active] {
        r.transition_member("m1", to).unwrap();
    }
    match r.transition_member("m1", Starting) {
        Err(RegistryError::IllegalTransition { member_id, source }) => {
            assert_eq!(member_id, "m1");
            assert_eq!((source.from, source.to), (Active, Starting));
        }
        other => panic!("expected IllegalTransition, got {other:?}"),
    }
    assert_eq!(r.get_member("m1").unwrap().unwrap().state, Active);
    r.transition_member("m1", ReadyToShutDown).unwrap();
    r.transition_member("m1", Terminated).unwrap();
    assert!(matches!(
        r.transition_member("m1", Active),
        Err(RegistryError::IllegalTransition { .. })
    ));
    assert_eq!(r.get_member("m1").unwrap().unwrap().state, Terminated);
}

fn data_survives_reopen(f: &mut Fixture) {
    let (s, c) = new_sub(1, "shop");
    f.registry().create_subscription(s, c).unwrap();
    f.registry()
        .insert_member(None, new_member("m1", "shop.php.domain"))
        .unwrap();
    f.registry().transition_member("m1", Initialized).unwrap();
    let r = f.reopen();
    assert_eq!(
        r.get_subscription(1, "shop").unwrap().unwrap().cluster_id,
        "shop.php.domain"
    );
    let cluster = r.get_cluster("shop.php.domain").unwrap().unwrap();
    assert_eq!(cluster.cartridge_key, "KEY1234567890abc");
    assert_eq!(r.get_member("m1").unwrap().unwrap().state, Initialized);
}

fn secrets_never_print(f: &mut Fixture) {
    let r = f.registry();
    let (s, c) = new_sub(1, "shop");
    assert!(!format!("{c:?}").contains("KEY1234567890abc"));
    let (_, cluster) = r.create_subscription(s, c).unwrap();
    assert!(!format!("{cluster:?}").contains("KEY1234567890abc"));
    assert!(!serde_json::to_string(&cluster)
        .unwrap()
        .contains("KEY1234567890abc"));
    r.ensure_admin("$argon2id$secret-hash").unwrap();
    let admin = r.get_user("admin").unwrap().unwrap();
    assert!(!format!("{admin:?}").contains("secret-hash"));
    assert!(!serde_json::to_string(&admin)
        .unwrap()
        .contains("secret-hash"));
    let err = Registry::open("postgres://user:topsecret@127.0.0.1:1/x")
        .err()
        .expect("port 1 refuses");
    assert!(!err.to_string().contains("topsecret"), "{err}");
}

fn duplicate_transition_is_unchanged(f: &mut Fixture) {
    let r = f.registry();
    r.insert_member(None, new_member("m1", "c1")).unwrap();
    assert!(matches!(
        r.transition_member("m1", Created).unwrap(),
        Transition::Unchanged(_)
    ));
    for to in [Initialized, Starting, Active] {
        assert!(matches!(
            r.transition_member("m1", to).unwrap(),
            Transition::Moved { .. }
        ));
    }
    let before = r.get_member("m1").unwrap().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    match r.transition_member("m1", Active).unwrap() {
        Transition::Unchanged(m) => assert_eq!(m, before),
        other => panic!("expected Unchanged, got {other:?}"),
    }
    assert_eq!(
        r.get_member("m1").unwrap().unwrap(),
        before,
        "row untouched"
    );
    match r.transition_member("m1", ReadyToShutDown).unwrap() {
        Transition::Moved { from, member } => {
            assert_eq!(from, Active);
            assert_eq!(member.state, ReadyToShutDown);
            assert_eq!(member.activated_at, before.activated_at);
            assert!(member.terminate_requested_at.is_some());
        }
        other => panic!("expected Moved, got {other:?}"),
    }
}

fn live_members(f: &mut Fixture) {
    let r = f.registry();
    assert!(r.list_live_members().unwrap().is_empty());
    for (id, cluster) in [("a", "c1"), ("b", "c2"), ("c", "c1"), ("d", "c2")] {
        r.insert_member(None, new_member(id, cluster)).unwrap();
        // Distinct created_at values keep the expected order independent of the clock.
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    r.transition_member("b", Terminated).unwrap();
    r.transition_member("c", Initialized).unwrap();
    r.transition_member("c", ReadyToShutDown).unwrap();
    let live: Vec<(String, MemberState)> = r
        .list_live_members()
        .unwrap()
        .into_iter()
        .map(|m| (m.member_id, m.state))
        .collect();
    assert_eq!(
        live,
        [
            ("a".to_string(), Created),
            ("c".to_string(), ReadyToShutDown),
            ("d".to_string(), Created)
        ]
    );
    let c2: Vec<String> = r
        .list_members("c2", true)
        .unwrap()
        .into_iter()
        .map(|m| m.member_id)
        .collect();
    assert_eq!(c2, ["b", "d"]);
}

/// Clones share the pool: parallel tenant creation allocates distinct consecutive ids, and
/// racing transitions of one member move it exactly once.
fn concurrent_writers(f: &mut Fixture) {
    let r = f.registry().clone();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let r = r.clone();
            std::thread::spawn(move || {
                for i in 0..5 {
                    r.create_tenant(NewTenant {
                        domain: format!("t{t}-{i}.org"),
                        email: "e@x".into(),
                        admin_username: "boss".into(),
                        admin_password_hash: "h".into(),
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let ids: Vec<i64> = r
        .list_tenants()
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, (1..=20).collect::<Vec<i64>>());

    r.insert_member(None, new_member("m1", "c1")).unwrap();
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let r = r.clone();
            std::thread::spawn(move || r.transition_member("m1", Initialized).unwrap())
        })
        .collect();
    let moved = racers
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|t| matches!(t, Transition::Moved { .. }))
        .count();
    assert_eq!(moved, 1);
    assert_eq!(r.get_member("m1").unwrap().unwrap().state, Initialized);
}

#[test]
fn sqlite_url_forms_and_pragmas() {
    let dir = std::env::temp_dir().join(format!("alto-registry-{}", rand::random::<u64>()));
    for url in [
        format!("sqlite://{}", dir.join("a/nested/one.db").display()),
        format!("sqlite:{}", dir.join("two.db").display()),
        dir.join("three.db").display().to_string(),
    ] {
        let r = Registry::open(&url).unwrap();
        assert_eq!(r.backend(), Backend::Sqlite);
        r.put_definition(DefinitionKind::Partition, "p1", "{}")
            .unwrap();
        drop(r);
        assert_eq!(
            Registry::open(&url)
                .unwrap()
                .list_definitions(DefinitionKind::Partition)
                .unwrap()
                .len(),
            1
        );
    }
    assert!(dir.join("a/nested/one.db").exists());
    let r = Registry::open(&dir.join("two.db").display().to_string()).unwrap();
    let Pools::Sqlite(pool) = &r.pools else {
        panic!("sqlite pool expected")
    };
    #[derive(QueryableByName)]
    struct Pragma {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let mut c = pool.get().unwrap();
    let pragma = |c: &mut SqliteConnection, name: &str| -> String {
        diesel::sql_query(format!(
            "SELECT CAST((SELECT * FROM pragma_{name}) AS TEXT) AS value"
        ))
        .get_result::<Pragma>(c)
        .unwrap()
        .value
    };
    assert_eq!(pragma(&mut c, "journal_mode"), "wal");
    assert_eq!(pragma(&mut c, "busy_timeout"), "5000");
    assert_eq!(pragma(&mut c, "foreign_keys"), "1");
    drop(c);
    drop(r);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn open_errors_are_reported() {
    let file = std::env::temp_dir().join(format!("alto-registry-{}", rand::random::<u64>()));
    std::fs::write(&file, b"not a directory").unwrap();
    let err = Registry::open(&file.join("sub/registry.db").display().to_string())
        .err()
        .expect("parent is a file");
    assert!(matches!(err, RegistryError::Open { .. }), "{err:?}");
    let _ = std::fs::remove_file(file);
}

fn cleanup_request_is_set_once(f: &mut Fixture) {
    let r = f.registry();
    for id in ["m1", "m2", "m3"] {
        r.insert_member(None, new_member(id, "c1")).unwrap();
    }
    let before = r.get_member("m1").unwrap().unwrap();
    assert_eq!(before.cleanup_requested_at, None);
    let first = r
        .request_cleanup(None, "m1", "scale-down")
        .unwrap()
        .expect("first request is applied");
    let stamp = first.cleanup_requested_at.expect("stamp set");
    assert!(stamp >= before.created_at);
    assert_eq!(first.termination_reason.as_deref(), Some("scale-down"));
    assert_eq!(first.state, Created, "a request does not move the member");
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(r.request_cleanup(None, "m1", "faulty").unwrap(), None);
    let again = r.get_member("m1").unwrap().unwrap();
    assert_eq!(
        (
            again.cleanup_requested_at,
            again.termination_reason.as_deref()
        ),
        (Some(stamp), Some("scale-down")),
        "a second request changes nothing"
    );
    // An existing reason is kept.
    r.set_termination_reason("m2", "unsubscribed").unwrap();
    let m2 = r.request_cleanup(None, "m2", "faulty").unwrap().unwrap();
    assert_eq!(m2.termination_reason.as_deref(), Some("unsubscribed"));
    assert!(m2.cleanup_requested_at.is_some());
    // A Terminated member is past cleaning up.
    r.transition_member("m3", Terminated).unwrap();
    assert_eq!(r.request_cleanup(None, "m3", "late").unwrap(), None);
    let m3 = r.get_member("m3").unwrap().unwrap();
    assert_eq!(
        (m3.cleanup_requested_at, m3.termination_reason),
        (None, None)
    );
    match r.request_cleanup(None, "nope", "x") {
        Err(RegistryError::NotFound(m)) => assert!(m.contains("nope"), "{m}"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    // Racing requests: exactly one wins.
    r.insert_member(None, new_member("m4", "c1")).unwrap();
    let racers: Vec<_> = (0..4)
        .map(|i| {
            let r = r.clone();
            std::thread::spawn(move || {
                r.request_cleanup(None, "m4", &format!("racer-{i}"))
                    .unwrap()
            })
        })
        .collect();
    let winners: Vec<Member> = racers
        .into_iter()
        .filter_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(winners.len(), 1);
    assert_eq!(
        r.get_member("m4").unwrap().unwrap().termination_reason,
        winners[0].termination_reason
    );
}

fn cleanup_requests_survive_reopen(f: &mut Fixture) {
    let r = f.registry().clone();
    for id in ["a", "b", "c"] {
        r.insert_member(None, new_member(id, "c1")).unwrap();
    }
    r.request_cleanup(None, "b", "scale-down").unwrap().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(3));
    r.request_cleanup(None, "a", "faulty").unwrap().unwrap();
    let ids = |r: &Registry| -> Vec<String> {
        r.list_cleanups_requested()
            .unwrap()
            .into_iter()
            .map(|m| m.member_id)
            .collect()
    };
    assert_eq!(ids(&r), ["b", "a"], "oldest request first");
    let stamp = r.get_member("b").unwrap().unwrap().cleanup_requested_at;
    drop(r);
    let r = f.reopen();
    assert_eq!(ids(&r), ["b", "a"]);
    let b = r.get_member("b").unwrap().unwrap();
    assert_eq!(
        (b.cleanup_requested_at, b.termination_reason.as_deref()),
        (stamp, Some("scale-down"))
    );
    assert_eq!(r.request_cleanup(None, "b", "again").unwrap(), None);
    // Terminated members leave the list; members never requested were never on it.
    r.transition_member("b", Terminated).unwrap();
    assert_eq!(ids(&r), ["a"]);
}

fn live_member_counts(f: &mut Fixture) {
    let r = f.registry();
    let member = |id: &str, tenant: i64, provider: &str| NewMember {
        tenant_id: tenant,
        provider_type: provider.into(),
        ..new_member(id, &format!("c{tenant}"))
    };
    for (id, tenant, provider) in [
        ("a", 1, "mock"),
        ("b", 1, "mock"),
        ("c", 1, "mock"),
        ("d", 2, "mock"),
        ("e", 2, "mock"),
        ("f", 1, "ec2"),
        ("g", 2, "ec2"),
    ] {
        r.insert_member(None, member(id, tenant, provider)).unwrap();
    }
    walk(r, "b", &[Initialized, Starting, Active]);
    walk(r, "c", &[Terminated]);
    walk(r, "d", &[Initialized]);
    walk(r, "e", &[Initialized, ReadyToShutDown]);
    walk(r, "g", &[Initialized, ReadyToShutDown, Terminated]);
    let count = |p: &str, t: Option<i64>| r.count_live_members(p, t).unwrap();
    assert_eq!(count("mock", None), 4, "a, b, d, e");
    assert_eq!(count("mock", Some(1)), 2, "a, b");
    assert_eq!(count("mock", Some(2)), 2, "d, e");
    assert_eq!(count("ec2", None), 1, "f");
    assert_eq!(count("ec2", Some(1)), 1);
    assert_eq!(count("ec2", Some(2)), 0, "g is Terminated");
    assert_eq!(count("ec2", Some(3)), 0);
    assert_eq!(count("nope", None), 0);
    walk(r, "b", &[ReadyToShutDown, Terminated]);
    assert_eq!((count("mock", None), count("mock", Some(1))), (3, 1));
    // A cleanup request alone does not make a member dead.
    r.request_cleanup(None, "a", "scale-down").unwrap().unwrap();
    assert_eq!(count("mock", Some(1)), 1);
}

fn members_in_state(f: &mut Fixture) {
    let r = f.registry();
    for (id, cluster) in [
        ("a", "c1"),
        ("b", "c2"),
        ("c", "c1"),
        ("d", "c2"),
        ("e", "c3"),
    ] {
        r.insert_member(None, new_member(id, cluster)).unwrap();
        // Distinct created_at values keep the expected order independent of the clock.
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    walk(r, "d", &[Initialized, Starting, Active]);
    walk(r, "b", &[Initialized, Starting, Active]);
    walk(r, "c", &[Initialized]);
    walk(r, "e", &[Terminated]);
    let ids = |s: MemberState| -> Vec<String> {
        r.list_members_in_state(s)
            .unwrap()
            .into_iter()
            .map(|m| m.member_id)
            .collect()
    };
    assert_eq!(ids(Active), ["b", "d"], "by created_at, not by transition");
    assert_eq!(ids(Created), ["a"]);
    assert_eq!(ids(Initialized), ["c"]);
    assert_eq!(ids(Terminated), ["e"]);
    assert!(ids(Starting).is_empty());
    let active = r.list_members_in_state(Active).unwrap();
    assert!(active.iter().all(|m| m.state == Active));
}
