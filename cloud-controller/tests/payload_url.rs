//! A cloud whose user data is too small for the payload (the mock declaring 255 bytes, like
//! Rackspace's personality): the instance gets `PAYLOAD_URL=...`, the REST API serves the
//! payload to the token's holder only, and the token dies with the member.

use cloud_controller::controller::{Controller, ControllerOptions};
use cloud_controller::model::SubscribeRequest;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[actix_web::test]
async fn large_payloads_are_served_by_url_with_a_member_token() {
    let dir = std::env::temp_dir().join(format!("alto-payload-url-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).expect("conf");
    let write = |name: &str, text: &str| std::fs::write(conf.join(name), text).expect("write");
    write(
        "cloud-controller.xml",
        r#"<cloudController><iaasProviders>
  <iaasProvider type="tiny" name="tiny user data">
    <className>org.apache.stratos.cloud.controller.iaases.mock.MockIaas</className>
    <provider>mock</provider><identity>x</identity><credential>y</credential>
    <property name="mock.max.payload.bytes" value="255"/>
    <property name="mock.agent.delay.ms" value="20"/>
  </iaasProvider>
</iaasProviders></cloudController>"#,
    );
    write(
        "cartridge.xml",
        r#"<cartridge type="web" host="web.example.org" provider="apache" version="1" multiTenant="false">
  <displayName>web</displayName><description>payload by URL</description>
  <property name="payload_parameter.LONG_SETTING" value="a-value-long-enough-to-push-the-payload-well-past-two-hundred-and-fifty-five-bytes"/>
  <iaasProvider type="tiny"><imageId>img</imageId></iaasProvider>
  <portMapping><http port="80" proxyPort="8280"/></portMapping>
</cartridge>"#,
    );
    write(
        "autoscale.xml",
        r#"<autoscalePolicy id="a"><loadThresholds><requestsInFlight><threshold value="50"/></requestsInFlight></loadThresholds></autoscalePolicy>"#,
    );
    write(
        "deployment.xml",
        r#"<deploymentPolicy id="d"><partitionGroup id="np"><partitionAlgo>one-after-another</partitionAlgo>
  <partition id="p1"><provider>tiny</provider><min>1</min><max>1</max></partition>
</partitionGroup></deploymentPolicy>"#,
    );
    let mut opts = ControllerOptions::new(
        dir.join("registry.db").display().to_string(),
        dir.clone(),
        Arc::new(messaging::InProcessBus::new()),
        "pw-payload".into(),
    );
    opts.conf_dir = Some(conf);
    opts.reconcile_interval = Duration::from_millis(200);
    let controller = Controller::start(opts).await.expect("controller");
    let (server, addr) =
        cloud_controller::api::bind(controller.clone(), "127.0.0.1:0".parse().expect("addr"))
            .expect("bind");
    let handle = server.handle();
    actix_web::rt::spawn(server);
    controller.set_public_url(&format!("http://{addr}"));

    let admin = controller
        .authenticate("admin", "pw-payload")
        .await
        .expect("login");
    let sub = controller
        .subscribe(
            &admin,
            SubscribeRequest {
                cartridge_type: "web".into(),
                alias: "tiny".into(),
                autoscale_policy: "a".into(),
                deployment_policy: "d".into(),
            },
        )
        .await
        .expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(20);
    let member = loop {
        let c = controller
            .get_cluster(&admin, &sub.cluster_id)
            .await
            .expect("cluster");
        if let Some(m) = c.members.iter().find(|m| m.state == "Active") {
            break m.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no Active member: {:?}",
            c.members
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // What the instance got as user data (the mock keeps it as a cloud would).
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("mock-tiny.json")).expect("mock state"))
            .expect("mock state JSON");
    let user_data = state["instances"][member.instance_id.as_deref().unwrap_or_default()]
        ["payload"]
        .as_str()
        .expect("user data")
        .to_string();
    let prefix = format!("PAYLOAD_URL=http://{addr}/api/payload/");
    assert!(user_data.starts_with(&prefix), "{user_data}");
    assert!(user_data.len() <= 255, "{} bytes", user_data.len());
    let url = user_data.trim_start_matches("PAYLOAD_URL=").to_string();

    let client = reqwest::Client::new();
    let response = client.get(&url).send().await.expect("GET payload");
    assert_eq!(response.status(), 200);
    let payload = response.text().await.expect("body");
    assert!(payload.len() > 255, "{payload}");
    assert!(payload.starts_with("SERVICE_NAME=web,"), "{payload}");
    assert!(
        payload.contains(&format!(",MEMBER_ID={},", member.member_id)),
        "{payload}"
    );
    assert!(
        payload.contains("LONG_SETTING=a-value-long-enough"),
        "{payload}"
    );
    assert!(payload.contains("CARTRIDGE_KEY="), "{payload}");

    // Another token is nobody's payload.
    let other = format!("http://{addr}/api/payload/{}", "0".repeat(64));
    assert_eq!(client.get(&other).send().await.expect("GET").status(), 404);

    // The token dies with its member.
    controller
        .unsubscribe(&admin, "tiny")
        .await
        .expect("unsubscribe");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let c = controller
            .get_cluster(&admin, &sub.cluster_id)
            .await
            .expect("cluster");
        if c.members.iter().all(|m| m.state == "Terminated") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "members not terminated: {:?}",
            c.members
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(client.get(&url).send().await.expect("GET").status(), 404);
    handle.stop(true).await;
    controller.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
