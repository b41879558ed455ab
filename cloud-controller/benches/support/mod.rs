//! The configuration the controller benches run on: one mock cloud (with the bench's own
//! properties), the `web` cartridge, an autoscaling policy scaling on requests in flight and a
//! deployment policy of one partition.

use std::path::Path;

/// What differs between the benches' configurations.
pub struct BenchConf<'a> {
    /// `<property>`s of the mock cloud (latencies, agent, admission limits).
    pub mock_properties: &'a [(&'a str, &'a str)],
    /// Id of the autoscaling policy.
    pub policy_id: &'a str,
    /// Its requests-in-flight threshold.
    pub requests_in_flight: u64,
    /// Deployment policy `dep`'s partition bounds.
    pub min: usize,
    pub max: usize,
}

/// Write the configuration into `dir` (which must exist).
pub fn write_conf(dir: &Path, conf: &BenchConf) {
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).expect("write");
    let properties: String = conf
        .mock_properties
        .iter()
        .map(|(name, value)| format!("\n    <property name=\"{name}\" value=\"{value}\"/>"))
        .collect();
    write(
        "cloud-controller.xml",
        &format!(
            r#"<cloudController><iaasProviders>
  <iaasProvider type="mock" name="mock">
    <className>org.apache.stratos.cloud.controller.iaases.mock.MockIaas</className>
    <provider>mock</provider><identity>x</identity><credential>y</credential>{properties}
  </iaasProvider>
</iaasProviders></cloudController>"#
        ),
    );
    write(
        "cartridge.xml",
        r#"<cartridge type="web" host="web.example.org" provider="apache" version="1" multiTenant="false">
  <displayName>web</displayName><description>bench</description>
  <iaasProvider type="mock"><imageId>img</imageId></iaasProvider>
  <portMapping><http port="80" proxyPort="8280"/></portMapping>
</cartridge>"#,
    );
    write(
        "autoscale.xml",
        &format!(
            r#"<autoscalePolicy id="{}"><loadThresholds>
  <requestsInFlight><threshold value="{}"/></requestsInFlight>
</loadThresholds></autoscalePolicy>"#,
            conf.policy_id, conf.requests_in_flight
        ),
    );
    write(
        "deployment.xml",
        &format!(
            r#"<deploymentPolicy id="dep"><partitionGroup id="np"><partitionAlgo>one-after-another</partitionAlgo>
  <partition id="p1"><provider>mock</provider><min>{}</min><max>{}</max></partition>
</partitionGroup></deploymentPolicy>"#,
            conf.min, conf.max
        ),
    );
}
