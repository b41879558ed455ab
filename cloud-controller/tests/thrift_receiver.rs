//! The Thrift health receiver, driven by the `thrift` crate's own client over TLS, in front of
//! a real controller on the mock cloud: logins, stream definitions, bundles of health events
//! that move the member's health window (the cluster scales up on the load), stats for the
//! wrong cluster refused and counted, an oversize call refused.

use cloud_controller::controller::{Controller, ControllerOptions};
use cloud_controller::model::{ClusterInfo, SubscribeRequest};
use cloud_controller::thrift_receiver::databridge::{
    TThriftSecureEventTransmissionServiceSyncClient, ThriftAuthenticationException,
    ThriftEventBundle, ThriftSecureEventTransmissionServiceSyncClient,
    ThriftSessionExpiredException, ThriftUndefinedEventTypeException,
};
use cloud_controller::thrift_receiver::tls::{self, Identity};
use cloud_controller::thrift_receiver::{PlatformLogin, ReceiverLimits, ThriftReceiver};
use openssl::ssl::{SslConnector, SslMethod, SslStream, SslVerifyMode};
use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thrift::protocol::{TBinaryInputProtocol, TBinaryOutputProtocol};
use thrift::transport::{TBufferedReadTransport, TBufferedWriteTransport};
use thrift::OrderedFloat;

const PASSWORD: &str = "thrift-test-admin-pw";
const THRIFT_PASSWORD: &str = "thrift-test-agent-pw";

/// The stream definition the Stratos 4.1 agent sends (its attribute names and types).
const HEALTH_STREAM: &str = r#"{"name":"cartridge_agent_health_stats","version":"1.0.0","nickName":"agent health stats","description":"agent health stats","payloadData":[{"name":"cluster_id", "type": "STRING"},{"name":"cluster_instance_id", "type": "STRING"},{"name":"network_partition_id", "type": "STRING"},{"name":"member_id", "type": "STRING"},{"name":"partition_id", "type": "STRING"},{"name":"health_description", "type": "STRING"},{"name":"value", "type": "DOUBLE"}]}"#;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write conf");
}

async fn controller(dir: &Path) -> (Arc<Controller>, cloud_controller::auth::Principal, String) {
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).expect("conf dir");
    write(
        &conf,
        "cloud-controller.xml",
        r#"<cloudController><iaasProviders><iaasProvider type="mock" name="mock">
    <className>org.apache.stratos.cloud.controller.iaases.mock.MockIaas</className>
    <provider>mock</provider><identity>x</identity><credential>y</credential>
    <property name="mock.start.latency.ms" value="20"/>
    <property name="mock.agent.delay.ms" value="20"/>
  </iaasProvider></iaasProviders></cloudController>"#,
    );
    write(
        &conf,
        "cartridge.xml",
        r#"<cartridge type="web" host="web.example.org" provider="apache" version="1" multiTenant="false">
  <displayName>web</displayName><description>thrift receiver</description>
  <iaasProvider type="mock"><imageId>img</imageId></iaasProvider>
  <portMapping><http port="80" proxyPort="8280"/></portMapping>
</cartridge>"#,
    );
    write(
        &conf,
        "autoscale.xml",
        r#"<autoscalePolicy id="load"><loadThresholds>
  <loadAverage><average value="60"/></loadAverage>
</loadThresholds></autoscalePolicy>"#,
    );
    write(
        &conf,
        "deployment.xml",
        r#"<deploymentPolicy id="dep"><partitionGroup id="np">
  <partitionAlgo>one-after-another</partitionAlgo>
  <partition id="p1"><provider>mock</provider><min>1</min><max>3</max></partition>
</partitionGroup></deploymentPolicy>"#,
    );
    let bus = Arc::new(messaging::InProcessBus::new());
    let mut opts = ControllerOptions::new(
        dir.join("registry.db").display().to_string(),
        dir.to_path_buf(),
        bus,
        PASSWORD.to_string(),
    );
    opts.conf_dir = Some(conf);
    opts.scaling_interval = Duration::from_millis(200);
    opts.scaling.scale_up_cooldown_seconds = 1.0;
    opts.scaling.window_seconds = 5.0;
    let controller = Controller::start(opts).await.expect("controller starts");
    let principal = controller
        .authenticate("admin", PASSWORD)
        .await
        .expect("admin login");
    let sub = controller
        .subscribe(
            &principal,
            SubscribeRequest {
                cartridge_type: "web".into(),
                alias: "shop".into(),
                autoscale_policy: "load".into(),
                deployment_policy: "dep".into(),
            },
        )
        .await
        .expect("subscribe");
    (controller, principal, sub.cluster_id)
}

async fn wait_cluster(
    controller: &Controller,
    principal: &cloud_controller::auth::Principal,
    cluster_id: &str,
    what: &str,
    done: impl Fn(&ClusterInfo) -> bool,
) -> ClusterInfo {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let cluster = controller
            .get_cluster(principal, cluster_id)
            .await
            .expect("cluster");
        if done(&cluster) {
            return cluster;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {cluster:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn active(cluster: &ClusterInfo) -> Vec<&str> {
    cluster
        .members
        .iter()
        .filter(|m| m.state == "Active")
        .map(|m| m.member_id.as_str())
        .collect()
}

/// Both halves of one TLS connection for the client's transports.
struct Half(Rc<RefCell<SslStream<TcpStream>>>);

impl Read for Half {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().read(buf)
    }
}

impl Write for Half {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

type Client = ThriftSecureEventTransmissionServiceSyncClient<
    TBinaryInputProtocol<TBufferedReadTransport<Half>>,
    TBinaryOutputProtocol<TBufferedWriteTransport<Half>>,
>;

fn tls_connect(addr: std::net::SocketAddr) -> SslStream<TcpStream> {
    let mut connector = SslConnector::builder(SslMethod::tls()).expect("connector");
    // The receiver's certificate is self-signed; the Stratos agent does not verify either.
    connector.set_verify(SslVerifyMode::NONE);
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    connector
        .build()
        .connect("localhost", tcp)
        .expect("TLS handshake")
}

fn client(addr: std::net::SocketAddr) -> Client {
    let conn = Rc::new(RefCell::new(tls_connect(addr)));
    ThriftSecureEventTransmissionServiceSyncClient::new(
        TBinaryInputProtocol::new(TBufferedReadTransport::new(Half(conn.clone())), true),
        TBinaryOutputProtocol::new(TBufferedWriteTransport::new(Half(conn)), true),
    )
}

/// Stratos' layout: per event, the stream id and timestamp first, then the attributes.
fn health_bundle(
    session: &str,
    stream_id: &str,
    events: &[(&str, &str, &str, f64)],
) -> ThriftEventBundle {
    let mut strings = Vec::new();
    let mut longs = Vec::new();
    let mut doubles = Vec::new();
    for (cluster, member, description, value) in events {
        strings.extend(
            [
                stream_id,
                cluster,
                "shop-1",
                "np",
                member,
                "p1",
                description,
            ]
            .map(str::to_string),
        );
        longs.push(1_795_000_000_000);
        doubles.push(OrderedFloat(*value));
    }
    ThriftEventBundle::new(
        session.to_string(),
        events.len() as i32,
        Vec::new(),
        longs,
        doubles,
        Vec::new(),
        strings,
        None,
    )
}

fn user_error<T: std::error::Error + 'static>(e: &thrift::Error) -> bool {
    matches!(e, thrift::Error::User(inner) if inner.downcast_ref::<T>().is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thrift_health_stats_move_the_window_and_only_for_the_right_cluster() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("cloud_controller::thrift_receiver=debug")
        .try_init();
    let dir = std::env::temp_dir().join(format!("alto-thrift-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let (controller, principal, cluster_id) = controller(&dir).await;
    let cluster = wait_cluster(&controller, &principal, &cluster_id, "one Active", |c| {
        active(c).len() == 1
    })
    .await;
    let member_id = active(&cluster)[0].to_string();

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let receiver = ThriftReceiver::spawn(
        listener,
        tls::acceptor(Identity::SelfSigned).expect("acceptor"),
        Arc::new(PlatformLogin::new("admin", THRIFT_PASSWORD)),
        controller.health_sink(),
        ReceiverLimits {
            max_message_bytes: 64 * 1024,
            ..ReceiverLimits::default()
        },
    )
    .expect("receiver");
    let addr = receiver.local_addr();

    let (cluster_for_thread, member_for_thread) = (cluster_id.clone(), member_id.clone());
    let session = tokio::task::spawn_blocking(move || {
        let mut c = client(addr);
        let refused = c
            .connect("admin".into(), "wrong".into())
            .expect_err("a wrong password is refused");
        assert!(
            user_error::<ThriftAuthenticationException>(&refused),
            "{refused:?}"
        );
        let session = c
            .connect("admin".into(), THRIFT_PASSWORD.into())
            .expect("login");
        let stream_id = c
            .define_stream(session.clone(), HEALTH_STREAM.into())
            .expect("defineStream");
        assert_eq!(stream_id, "cartridge_agent_health_stats:1.0.0");
        // Defining it again (a restarted agent) finds the same stream.
        assert_eq!(
            c.define_stream(session.clone(), HEALTH_STREAM.into())
                .expect("defineStream again"),
            stream_id
        );
        // A stat for the wrong cluster: refused, whoever sends it.
        c.publish(health_bundle(
            &session,
            &stream_id,
            &[("other.web.domain", &member_for_thread, "load_average", 99.0)],
        ))
        .expect("publish");
        // A bundle of two events, load and memory.
        c.publish(health_bundle(
            &session,
            &stream_id,
            &[
                (
                    &cluster_for_thread,
                    &member_for_thread,
                    "load_average",
                    95.0,
                ),
                (
                    &cluster_for_thread,
                    &member_for_thread,
                    "memory_consumption",
                    40.0,
                ),
            ],
        ))
        .expect("publish");
        // An event of a stream nobody defined.
        let undefined = c
            .publish(health_bundle(
                &session,
                "nope:1.0.0",
                &[(&cluster_for_thread, &member_for_thread, "load_average", 1.0)],
            ))
            .expect_err("undefined stream");
        assert!(
            user_error::<ThriftUndefinedEventTypeException>(&undefined),
            "{undefined:?}"
        );
        // An unknown session: the agent's cue to log in again.
        let expired = c
            .publish(health_bundle("not-a-session", &stream_id, &[]))
            .expect_err("unknown session");
        assert!(
            user_error::<ThriftSessionExpiredException>(&expired),
            "{expired:?}"
        );
        (session, stream_id)
    })
    .await
    .expect("client thread");

    let counters = receiver.counters();
    assert_eq!(counters.applied.load(Ordering::Relaxed), 2);
    assert_eq!(counters.refused.load(Ordering::Relaxed), 1);
    assert_eq!(counters.logins_refused.load(Ordering::Relaxed), 1);
    let metrics = controller.metrics_text(false).await.expect("metrics");
    assert!(
        metrics.contains(r#"alto_bus_messages_refused_total{kind="thrift.cartridge_agent_health_stats",reason="unknown-member"} 1"#),
        "{metrics}"
    );

    // The load (95 > 60) reached the member's window: the cluster grows. Keep the load up
    // (a stat per second, as an agent would) until it has.
    let (id, cl, m) = (session.1.clone(), cluster_id.clone(), member_id.clone());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_feeding = stop.clone();
    let feeder = tokio::task::spawn_blocking(move || {
        let mut c = client(addr);
        let session = c
            .connect("admin".into(), THRIFT_PASSWORD.into())
            .expect("login");
        for _ in 0..20 {
            if stop_feeding.load(Ordering::SeqCst) {
                return;
            }
            if c.publish(health_bundle(
                &session,
                &id,
                &[(&cl, &m, "load_average", 95.0)],
            ))
            .is_err()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    wait_cluster(
        &controller,
        &principal,
        &cluster_id,
        "a second member",
        |c| c.members.len() >= 2,
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    feeder.await.expect("feeder");

    // An oversize call: the connection is closed, the receiver goes on.
    let errors_before = counters.protocol_errors.load(Ordering::Relaxed);
    let oversize = tokio::task::spawn_blocking(move || {
        let mut c = client(addr);
        let session = c
            .connect("admin".into(), THRIFT_PASSWORD.into())
            .expect("login");
        let huge = "x".repeat(1024 * 1024);
        let refused = c.define_stream(session, huge);
        let mut again = client(addr);
        let works = again
            .connect("admin".into(), THRIFT_PASSWORD.into())
            .is_ok();
        (refused.is_err(), works)
    })
    .await
    .expect("oversize thread");
    assert_eq!(
        oversize,
        (true, true),
        "oversize refused, receiver still serving"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while counters.protocol_errors.load(Ordering::Relaxed) == errors_before {
        assert!(
            Instant::now() < deadline,
            "the oversize call was not counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    controller.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
