//! The Altostratus registry: deployed definitions, tenants and users, subscriptions, clusters
//! and members, persisted with diesel on SQLite (embedded, the default) or PostgreSQL.
//!
//! One schema and one query code path serve both backends: the migrations (`migrations/sqlite`
//! and `migrations/postgres`, embedded and run on open) create column-for-column identical
//! tables using only TEXT and BIGINT (ids are allocated here, not by SERIAL/AUTOINCREMENT), and
//! every query is written once and expanded for each connection type by the `run!` and
//! `write_tx!` macros. Connections come from an r2d2 pool; SQLite connections are set up with
//! WAL, a 5 s busy timeout and foreign keys. Read-modify-write operations run in a transaction
//! that holds the write lock from its start (`BEGIN IMMEDIATE` on SQLite, `LOCK TABLE` on
//! PostgreSQL), and member state changes are compare-and-set, so concurrent callers on one
//! registry, or several processes on one database, cannot interleave them. Calls are
//! synchronous; the controller runs them on blocking threads.
//!
//! What a restarted controller needs is here too: `decision_records` keeps the newest decision
//! records per cluster (seq-ordered JSON bodies), `payload_grants` the one-time payload-by-URL
//! grants keyed by a hash of their token, and `members.cleanup_requested_at` the set-once
//! cleanup requests.
//!
//! Several replicas share one PostgreSQL registry: `leader_lease` elects the
//! one that acts and fences a deposed one (`leadership.rs`), and `controller_reports` keeps
//! what any replica serves the same (the leader's last reconciliation).
//!
//! Queries live by table: members in `member_queries.rs`, decision records in
//! `decisions.rs`, grants in `grants.rs`, the lease in `leadership.rs`, the rest here; the
//! REST API's keyset pages and member counts in `pages.rs`.

mod records;
mod schema;

pub use records::*;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{
    ConnectionManager, CustomizeConnection, Pool, PooledConnection, R2D2Connection,
};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use messaging::MemberState;
use schema::{
    clusters, decision_records, definitions, members, payload_grants, subscriptions, tenants, users,
};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Applied to every SQLite connection: WAL keeps readers (a second `alto` validating, a backup)
/// from blocking the writer; the busy timeout rides over short locks instead of failing.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                              PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;";
const SQLITE_POOL_SIZE: u32 = 4;
const POSTGRES_POOL_SIZE: u32 = 8;
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);
/// Compare-and-set attempts for a member transition before giving up with `Conflict`.
const TRANSITION_ATTEMPTS: usize = 8;

/// Stratos' super tenant, home of the platform admin.
pub const SUPER_TENANT_ID: i64 = -1234;

/// Which database a registry uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What went wrong, and where.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The database could not be opened (the URL is shown with its password redacted).
    #[error("cannot open registry {url}: {message}")]
    Open { url: String, message: String },
    #[error("registry migration failed: {0}")]
    Migration(String),
    #[error("registry query {operation} failed: {source}")]
    Query {
        operation: &'static str,
        #[source]
        source: DieselError,
    },
    #[error("registry connection unusable: {0}")]
    Pool(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("member {member_id}: {source}")]
    IllegalTransition {
        member_id: String,
        #[source]
        source: messaging::IllegalTransition,
    },
    /// A leader's action refused: its lease expired or another replica's term began (token 0:
    /// the replica never led).
    #[error("replica {holder} does not lead (its last term: {token}); the action was not taken")]
    Fenced { holder: String, token: i64 },
    /// A row holds something the code cannot read (bad JSON, unknown state name).
    #[error("corrupt registry row: {0}")]
    Corrupt(String),
}

impl RegistryError {
    /// The database is away or restarting (connection refused or lost, server shutting down or
    /// starting up, a serialization conflict): the same request may well succeed shortly.
    pub fn is_unavailable(&self) -> bool {
        match self {
            RegistryError::Pool(_) | RegistryError::Open { .. } => true,
            RegistryError::Query {
                source: DieselError::DatabaseError(kind, info),
                ..
            } => match kind {
                DatabaseErrorKind::ClosedConnection
                | DatabaseErrorKind::UnableToSendCommand
                | DatabaseErrorKind::SerializationFailure => true,
                DatabaseErrorKind::Unknown => {
                    let message = info.message();
                    [
                        "terminating connection",
                        "shutting down",
                        "starting up",
                        "server closed the connection",
                        "connection to server",
                        "no connection to the server",
                    ]
                    .iter()
                    .any(|m| message.contains(m))
                }
                _ => false,
            },
            _ => false,
        }
    }
}

/// Transaction begin/commit failures (the only diesel errors not mapped at their call site).
impl From<DieselError> for RegistryError {
    fn from(source: DieselError) -> Self {
        RegistryError::Query {
            operation: "transaction",
            source,
        }
    }
}

/// Turn a diesel error into ours; unique violations become `Conflict` with `what`.
fn query(
    operation: &'static str,
    what: impl FnOnce() -> String,
) -> impl FnOnce(DieselError) -> RegistryError {
    move |e| match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            RegistryError::Conflict(what())
        }
        source => RegistryError::Query { operation, source },
    }
}

fn plain(operation: &'static str) -> impl Fn(DieselError) -> RegistryError {
    move |source| RegistryError::Query { operation, source }
}

/// Runs the SQLite pragmas on every connection the pool opens.
#[derive(Debug)]
struct SqliteSetup;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqliteSetup {
    fn on_acquire(&self, c: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        c.batch_execute(SQLITE_PRAGMAS)
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Applied to every PostgreSQL connection. A transaction left open by a process that stalled
/// (SIGSTOP, a pause, a partition) is ended by the server after this long, so the share lock a
/// fenced write holds on the lease row cannot keep the other replicas from electing a new
/// leader; our transactions never sit idle between statements.
const POSTGRES_SESSION: &str = "SET idle_in_transaction_session_timeout = '2s'";

#[derive(Debug)]
struct PostgresSetup;

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for PostgresSetup {
    fn on_acquire(&self, c: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        c.batch_execute(POSTGRES_SESSION)
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

#[derive(Clone)]
enum Pools {
    Sqlite(Pool<ConnectionManager<SqliteConnection>>),
    Pg(Pool<ConnectionManager<PgConnection>>),
}

fn checkout<C: R2D2Connection + 'static>(
    pool: &Pool<ConnectionManager<C>>,
) -> Result<PooledConnection<ConnectionManager<C>>, RegistryError> {
    pool.get().map_err(|e| RegistryError::Pool(e.to_string()))
}

/// Take the write lock on `tables` for the rest of the transaction. SQLite needs nothing here:
/// its write transactions are `BEGIN IMMEDIATE` (see `write_tx!`).
trait LockTables {
    fn lock_tables(&mut self, tables: &str) -> Result<(), RegistryError>;
}

impl LockTables for SqliteConnection {
    fn lock_tables(&mut self, _tables: &str) -> Result<(), RegistryError> {
        Ok(())
    }
}

impl LockTables for PgConnection {
    fn lock_tables(&mut self, tables: &str) -> Result<(), RegistryError> {
        // SHARE ROW EXCLUSIVE conflicts with itself and with writers, not with plain readers.
        self.batch_execute(&format!("LOCK TABLE {tables} IN SHARE ROW EXCLUSIVE MODE"))
            .map_err(plain("lock"))
    }
}

/// Run the same diesel code on a pooled connection of whichever backend the registry uses.
macro_rules! run {
    ($self:expr, $c:ident => $body:expr) => {{
        match &$self.pools {
            Pools::Sqlite(pool) => {
                let mut pooled = checkout(pool)?;
                let $c: &mut SqliteConnection = &mut pooled;
                $body
            }
            Pools::Pg(pool) => {
                let mut pooled = checkout(pool)?;
                let $c: &mut PgConnection = &mut pooled;
                $body
            }
        }
    }};
}

/// Like `run!`, inside a write transaction: `BEGIN IMMEDIATE` on SQLite (the write lock is held
/// from the start, so read-then-write cannot deadlock or lose updates), a plain transaction on
/// PostgreSQL (bodies call `lock_tables` where they allocate ids).
macro_rules! write_tx {
    ($self:expr, $c:ident => $body:expr) => {{
        match &$self.pools {
            Pools::Sqlite(pool) => {
                let mut pooled = checkout(pool)?;
                pooled.immediate_transaction::<_, RegistryError, _>(|$c| $body)
            }
            Pools::Pg(pool) => {
                let mut pooled = checkout(pool)?;
                pooled.transaction::<_, RegistryError, _>(|$c| $body)
            }
        }
    }};
}

// The query modules come after the macros, which are in scope only below their definition.
mod decisions;
mod grants;
#[macro_use]
mod leadership;
#[macro_use]
mod member_queries;
mod batch;
mod bulk;
mod pages;

pub use batch::{MemberInstance, MemberWrite, WriteOutcomes};
pub use bulk::{BulkMember, BulkSubscription};

pub use leadership::{Fence, Lease};
pub use pages::{MemberKey, Page};

/// The registry handle; cheap to clone (clones share the pool).
#[derive(Clone)]
pub struct Registry {
    pools: Pools,
    backend: Backend,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Create the SQLite file with mode 0600 if it does not exist (it holds CARTRIDGE_KEYs and
/// password hashes); SQLite gives its journal, WAL and shared-memory files the database file's
/// mode. An existing file is left as it is, apart from losing group and other access.
fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if path.as_os_str() == ":memory:" {
        return Ok(());
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Registry {
    /// Open (and migrate) the registry at `url`: `postgres://` / `postgresql://` for
    /// PostgreSQL; `sqlite://PATH`, `sqlite:PATH` or a plain path for SQLite.
    pub fn open(url: &str) -> Result<Registry, RegistryError> {
        let open_err = |message: String| RegistryError::Open {
            url: redact(url),
            message,
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // One direct connection first: an unreachable server fails fast with libpq's own
            // message instead of a pool checkout timeout.
            let mut c = PgConnection::establish(url).map_err(|e| open_err(e.to_string()))?;
            c.run_pending_migrations(POSTGRES_MIGRATIONS)
                .map_err(|e| RegistryError::Migration(e.to_string()))?;
            let pool = Pool::builder()
                .max_size(POSTGRES_POOL_SIZE)
                .min_idle(Some(1))
                .connection_timeout(CHECKOUT_TIMEOUT)
                .connection_customizer(Box::new(PostgresSetup))
                .build(ConnectionManager::<PgConnection>::new(url))
                .map_err(|e| open_err(e.to_string()))?;
            return Ok(Registry {
                pools: Pools::Pg(pool),
                backend: Backend::Postgres,
            });
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if let Some(parent) = std::path::Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| open_err(format!("cannot create {}: {e}", parent.display())))?;
        }
        create_private(std::path::Path::new(path))
            .map_err(|e| open_err(format!("cannot create {path} with mode 0600: {e}")))?;
        let mut c = SqliteConnection::establish(path).map_err(|e| open_err(e.to_string()))?;
        c.batch_execute(SQLITE_PRAGMAS)
            .map_err(|e| open_err(e.to_string()))?;
        c.run_pending_migrations(SQLITE_MIGRATIONS)
            .map_err(|e| RegistryError::Migration(e.to_string()))?;
        let pool = Pool::builder()
            .max_size(SQLITE_POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(CHECKOUT_TIMEOUT)
            .connection_customizer(Box::new(SqliteSetup))
            .build(ConnectionManager::<SqliteConnection>::new(path))
            .map_err(|e| open_err(e.to_string()))?;
        Ok(Registry {
            pools: Pools::Sqlite(pool),
            backend: Backend::Sqlite,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    // ------------------------------------------------------------------------------------
    // Definitions

    pub fn put_definition(
        &self,
        kind: DefinitionKind,
        id: &str,
        body: &str,
    ) -> Result<StoredDefinition, RegistryError> {
        let now = now_ms();
        let row = DefinitionRow {
            kind: kind.as_str().to_string(),
            id: id.to_string(),
            body: body.to_string(),
            created_at: now,
            updated_at: now,
        };
        run!(self, c => diesel::insert_into(definitions::table)
            .values(&row)
            .on_conflict((definitions::kind, definitions::id))
            .do_update()
            .set((definitions::body.eq(body), definitions::updated_at.eq(now)))
            .execute(c)
            .map_err(plain("put_definition")))?;
        self.get_definition(kind, id)?
            .ok_or_else(|| RegistryError::NotFound(format!("{} {id}", kind.as_str())))
    }

    /// Store a definition whose id is new: `false` (and nothing written) when one of that
    /// kind and id exists. One statement, so two racing creators cannot both succeed.
    pub fn create_definition(
        &self,
        kind: DefinitionKind,
        id: &str,
        body: &str,
    ) -> Result<bool, RegistryError> {
        let now = now_ms();
        let row = DefinitionRow {
            kind: kind.as_str().to_string(),
            id: id.to_string(),
            body: body.to_string(),
            created_at: now,
            updated_at: now,
        };
        let n = run!(self, c => diesel::insert_into(definitions::table)
            .values(&row)
            .on_conflict((definitions::kind, definitions::id))
            .do_nothing()
            .execute(c)
            .map_err(plain("create_definition")))?;
        Ok(n == 1)
    }

    /// Replace the body of an existing definition: `false` when there is none.
    pub fn update_definition(
        &self,
        kind: DefinitionKind,
        id: &str,
        body: &str,
    ) -> Result<bool, RegistryError> {
        let now = now_ms();
        let n = run!(self, c => diesel::update(definitions::table
                .filter(definitions::kind.eq(kind.as_str()))
                .filter(definitions::id.eq(id)))
            .set((definitions::body.eq(body), definitions::updated_at.eq(now)))
            .execute(c)
            .map_err(plain("update_definition")))?;
        Ok(n > 0)
    }

    pub fn get_definition(
        &self,
        kind: DefinitionKind,
        id: &str,
    ) -> Result<Option<StoredDefinition>, RegistryError> {
        let row: Option<DefinitionRow> = run!(self, c => definitions::table
            .filter(definitions::kind.eq(kind.as_str()))
            .filter(definitions::id.eq(id))
            .select(DefinitionRow::as_select())
            .first(c)
            .optional()
            .map_err(plain("get_definition")))?;
        row.map(DefinitionRow::into_record).transpose()
    }

    pub fn list_definitions(
        &self,
        kind: DefinitionKind,
    ) -> Result<Vec<StoredDefinition>, RegistryError> {
        let rows: Vec<DefinitionRow> = run!(self, c => definitions::table
            .filter(definitions::kind.eq(kind.as_str()))
            .order(definitions::id.asc())
            .select(DefinitionRow::as_select())
            .load(c)
            .map_err(plain("list_definitions")))?;
        rows.into_iter().map(DefinitionRow::into_record).collect()
    }

    pub fn delete_definition(&self, kind: DefinitionKind, id: &str) -> Result<bool, RegistryError> {
        let n = run!(self, c => diesel::delete(definitions::table.filter(definitions::kind.eq(kind.as_str())).filter(definitions::id.eq(id)))
            .execute(c)
            .map_err(plain("delete_definition")))?;
        Ok(n > 0)
    }

    // ------------------------------------------------------------------------------------
    // Tenants and users

    pub fn ensure_admin(&self, password_hash: &str) -> Result<(), RegistryError> {
        let row = UserRow {
            login: "admin".into(),
            tenant_id: SUPER_TENANT_ID,
            role: Role::Admin.as_str().into(),
            password_hash: password_hash.into(),
        };
        run!(self, c => diesel::insert_into(users::table)
            .values(&row)
            .on_conflict(users::login)
            .do_update()
            .set((users::password_hash.eq(password_hash), users::role.eq(Role::Admin.as_str()), users::tenant_id.eq(SUPER_TENANT_ID)))
            .execute(c)
            .map_err(plain("ensure_admin")))?;
        Ok(())
    }

    pub fn create_tenant(&self, t: NewTenant) -> Result<Tenant, RegistryError> {
        let now = now_ms();
        let domain = t.domain.clone();
        let conflict = || format!("tenant domain {domain} already exists");
        write_tx!(self, c => {
            c.lock_tables("tenants, users")?;
            let max: Option<i64> = tenants::table.select(diesel::dsl::max(tenants::id)).first(c).map_err(plain("create_tenant"))?;
            let id = max.unwrap_or(0).max(0) + 1;
            let row = TenantRow { id, domain: t.domain.clone(), email: t.email.clone(), created_at: now };
            diesel::insert_into(tenants::table).values(&row).execute(c).map_err(query("create_tenant", conflict))?;
            let user = UserRow {
                login: format!("{}@{}", t.admin_username, t.domain),
                tenant_id: id,
                role: Role::TenantAdmin.as_str().into(),
                password_hash: t.admin_password_hash.clone(),
            };
            let login = user.login.clone();
            diesel::insert_into(users::table).values(&user).execute(c).map_err(query("create_tenant", || format!("user {login} already exists")))?;
            Ok(row.into_record())
        })
    }

    pub fn get_tenant(&self, id: i64) -> Result<Option<Tenant>, RegistryError> {
        let row: Option<TenantRow> = run!(self, c => tenants::table.find(id).select(TenantRow::as_select()).first(c).optional().map_err(plain("get_tenant")))?;
        Ok(row.map(TenantRow::into_record))
    }

    pub fn get_tenant_by_domain(&self, domain: &str) -> Result<Option<Tenant>, RegistryError> {
        let row: Option<TenantRow> = run!(self, c => tenants::table.filter(tenants::domain.eq(domain)).select(TenantRow::as_select()).first(c).optional().map_err(plain("get_tenant_by_domain")))?;
        Ok(row.map(TenantRow::into_record))
    }

    pub fn list_tenants(&self) -> Result<Vec<Tenant>, RegistryError> {
        let rows: Vec<TenantRow> = run!(self, c => tenants::table.order(tenants::id.asc()).select(TenantRow::as_select()).load(c).map_err(plain("list_tenants")))?;
        Ok(rows.into_iter().map(TenantRow::into_record).collect())
    }

    pub fn get_user(&self, login: &str) -> Result<Option<User>, RegistryError> {
        let row: Option<UserRow> = run!(self, c => users::table.find(login).select(UserRow::as_select()).first(c).optional().map_err(plain("get_user")))?;
        row.map(UserRow::into_record).transpose()
    }

    // ------------------------------------------------------------------------------------
    // Subscriptions and clusters

    pub fn create_subscription(
        &self,
        s: NewSubscription,
        cl: NewCluster,
    ) -> Result<(Subscription, Cluster), RegistryError> {
        let now = now_ms();
        let properties = to_json(&cl.properties)?;
        let (tenant, alias, cluster_id) = (s.tenant_id, s.alias.clone(), cl.cluster_id.clone());
        write_tx!(self, c => {
            c.lock_tables("subscriptions, clusters")?;
            let taken: i64 = subscriptions::table
                .filter(subscriptions::tenant_id.eq(tenant))
                .filter(subscriptions::alias.eq(&alias))
                .count()
                .get_result(c)
                .map_err(plain("create_subscription"))?;
            if taken > 0 {
                return Err(RegistryError::Conflict(format!("subscription alias {alias} already exists for tenant {tenant}")));
            }
            // A removed cluster with the same id is history: the alias may be subscribed again, and
            // its members, their payload grants and its decision records go with it.
            let existing: Option<String> = clusters::table.find(&cluster_id).select(clusters::status).first(c).optional().map_err(plain("create_subscription"))?;
            match existing.as_deref() {
                Some("Removed") => {
                    let old_members: Vec<String> = members::table.filter(members::cluster_id.eq(&cluster_id)).select(members::member_id).load(c).map_err(plain("create_subscription"))?;
                    // Chunks stay below SQLite's bound-parameter limit.
                    for ids in old_members.chunks(500) {
                        diesel::delete(payload_grants::table.filter(payload_grants::member_id.eq_any(ids))).execute(c).map_err(plain("create_subscription"))?;
                    }
                    diesel::delete(decision_records::table.filter(decision_records::cluster_id.eq(&cluster_id))).execute(c).map_err(plain("create_subscription"))?;
                    diesel::delete(members::table.filter(members::cluster_id.eq(&cluster_id))).execute(c).map_err(plain("create_subscription"))?;
                    diesel::delete(clusters::table.find(&cluster_id)).execute(c).map_err(plain("create_subscription"))?;
                }
                Some(_) => return Err(RegistryError::Conflict(format!("cluster {cluster_id} already exists"))),
                None => {}
            }
            let cluster_row = ClusterRow {
                cluster_id: cl.cluster_id.clone(),
                tenant_id: cl.tenant_id,
                alias: s.alias.clone(),
                service_name: cl.service_name.clone(),
                host_name: cl.host_name.clone(),
                autoscale_policy: cl.autoscale_policy.clone(),
                deployment_policy: cl.deployment_policy.clone(),
                cartridge_key: cl.cartridge_key.clone(),
                properties: properties.clone(),
                status: ClusterStatus::Created.as_str().into(),
                created_at: now,
                updated_at: now,
            };
            diesel::insert_into(clusters::table).values(&cluster_row).execute(c)
                .map_err(query("create_subscription", || format!("cluster {cluster_id} already exists")))?;
            let max: Option<i64> = subscriptions::table.select(diesel::dsl::max(subscriptions::id)).first(c).map_err(plain("create_subscription"))?;
            let sub_row = SubscriptionRow {
                id: max.unwrap_or(0) + 1,
                tenant_id: s.tenant_id,
                alias: s.alias.clone(),
                cartridge_type: s.cartridge_type.clone(),
                autoscale_policy: s.autoscale_policy.clone(),
                deployment_policy: s.deployment_policy.clone(),
                cluster_id: cl.cluster_id.clone(),
                status: SubscriptionStatus::Active.as_str().into(),
                created_at: now,
            };
            diesel::insert_into(subscriptions::table).values(&sub_row).execute(c)
                .map_err(query("create_subscription", || format!("subscription alias {alias} already exists for tenant {tenant}")))?;
            Ok((sub_row.into_record()?, cluster_row.into_record()?))
        })
    }

    pub fn get_subscription(
        &self,
        tenant_id: i64,
        alias: &str,
    ) -> Result<Option<Subscription>, RegistryError> {
        let row: Option<SubscriptionRow> = run!(self, c => subscriptions::table
            .filter(subscriptions::tenant_id.eq(tenant_id))
            .filter(subscriptions::alias.eq(alias))
            .select(SubscriptionRow::as_select())
            .first(c)
            .optional()
            .map_err(plain("get_subscription")))?;
        row.map(SubscriptionRow::into_record).transpose()
    }

    pub fn list_subscriptions(
        &self,
        tenant_id: Option<i64>,
    ) -> Result<Vec<Subscription>, RegistryError> {
        let rows: Vec<SubscriptionRow> = run!(self, c => {
            let mut q = subscriptions::table.select(SubscriptionRow::as_select()).order(subscriptions::id.asc()).into_boxed();
            if let Some(t) = tenant_id {
                q = q.filter(subscriptions::tenant_id.eq(t));
            }
            q.load(c).map_err(plain("list_subscriptions"))
        })?;
        rows.into_iter().map(SubscriptionRow::into_record).collect()
    }

    pub fn set_subscription_status(
        &self,
        tenant_id: i64,
        alias: &str,
        status: SubscriptionStatus,
    ) -> Result<(), RegistryError> {
        let n = run!(self, c => diesel::update(subscriptions::table.filter(subscriptions::tenant_id.eq(tenant_id)).filter(subscriptions::alias.eq(alias)))
            .set(subscriptions::status.eq(status.as_str()))
            .execute(c)
            .map_err(plain("set_subscription_status")))?;
        if n == 0 {
            return Err(RegistryError::NotFound(format!("subscription {alias}")));
        }
        Ok(())
    }

    pub fn delete_subscription(&self, tenant_id: i64, alias: &str) -> Result<bool, RegistryError> {
        let n = run!(self, c => diesel::delete(subscriptions::table.filter(subscriptions::tenant_id.eq(tenant_id)).filter(subscriptions::alias.eq(alias)))
            .execute(c)
            .map_err(plain("delete_subscription")))?;
        Ok(n > 0)
    }

    pub fn get_cluster(&self, cluster_id: &str) -> Result<Option<Cluster>, RegistryError> {
        let row: Option<ClusterRow> = run!(self, c => clusters::table.find(cluster_id).select(ClusterRow::as_select()).first(c).optional().map_err(plain("get_cluster")))?;
        row.map(ClusterRow::into_record).transpose()
    }

    pub fn list_clusters(
        &self,
        tenant_id: Option<i64>,
        include_removed: bool,
    ) -> Result<Vec<Cluster>, RegistryError> {
        let rows: Vec<ClusterRow> = run!(self, c => {
            let mut q = clusters::table.select(ClusterRow::as_select()).order(clusters::cluster_id.asc()).into_boxed();
            if let Some(t) = tenant_id {
                q = q.filter(clusters::tenant_id.eq(t));
            }
            if !include_removed {
                q = q.filter(clusters::status.ne(ClusterStatus::Removed.as_str()));
            }
            q.load(c).map_err(plain("list_clusters"))
        })?;
        rows.into_iter().map(ClusterRow::into_record).collect()
    }

    pub fn set_cluster_status(
        &self,
        cluster_id: &str,
        status: ClusterStatus,
    ) -> Result<(), RegistryError> {
        let now = now_ms();
        let n = run!(self, c => diesel::update(clusters::table.find(cluster_id))
            .set((clusters::status.eq(status.as_str()), clusters::updated_at.eq(now)))
            .execute(c)
            .map_err(plain("set_cluster_status")))?;
        if n == 0 {
            return Err(RegistryError::NotFound(format!("cluster {cluster_id}")));
        }
        Ok(())
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, RegistryError> {
    serde_json::to_string(value).map_err(|e| RegistryError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests;
