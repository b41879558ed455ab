//! The web console in a real browser: `alto dev` with a conf whose mock health forces a
//! scale-up, two tenants with a subscription each, then tests/console/console_test.py (selenium
//! driving Debian's headless Chromium) logs in, finds the members, waits for the scale-up in
//! the timeline and on the chart, is refused the other tenant's cluster, and checks the admin's
//! cartridges and policies. Screenshots land in target/console-screenshots.
//!
//! Needs /usr/bin/chromium, /usr/bin/chromedriver (`ensure_chromium` in scripts/services.sh)
//! and selenium's virtualenv (scripts/selenium.sh, or ALTO_SELENIUM_PYTHON); fails loudly
//! without them.

mod common;

use common::{
    mock_cloud_xml, repo_root, temp_dir, web_cartridge, Alto, StartOptions, ADMIN_PASSWORD,
};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A conf where cartridge `web` reports a load average of 90 % against the `hot` policy's
/// 50 %: clusters of `hot` on `grow` (1 to 3 members) scale up; `steady` never does.
fn conf(dir: &Path) -> PathBuf {
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).expect("conf dir");
    let write = |name: &str, text: &str| std::fs::write(conf.join(name), text).expect("write conf");
    write(
        "cloud-controller.xml",
        &mock_cloud_xml(&[
            ("mock.start.latency.ms", "200"),
            ("mock.agent.delay.ms", "20"),
            ("mock.stats.interval.secs", "1"),
        ]),
    );
    write(
        "mock-iaas.xml",
        r#"<mock-iaas enabled="true"><health-statistics><cartridge type="web">
  <pattern factor="load-average" mode="loop"><sampleValues>90</sampleValues><sampleDuration>60</sampleDuration></pattern>
  <pattern factor="memory-consumption" mode="loop"><sampleValues>30,40</sampleValues><sampleDuration>10</sampleDuration></pattern>
</cartridge></health-statistics></mock-iaas>"#,
    );
    write("cartridge.xml", &web_cartridge(&["mock"]));
    write(
        "autoscale-hot.xml",
        r#"<autoscalePolicy id="hot"><loadThresholds>
  <loadAverage><threshold value="50"/></loadAverage>
  <memoryConsumption><threshold value="80"/></memoryConsumption>
</loadThresholds></autoscalePolicy>"#,
    );
    write(
        "autoscale-steady.xml",
        r#"<autoscalePolicy id="steady"><loadThresholds>
  <loadAverage><threshold value="1000000"/></loadAverage>
</loadThresholds></autoscalePolicy>"#,
    );
    for (id, min, max) in [("grow", 1, 3), ("one", 1, 1)] {
        write(
            &format!("deployment-{id}.xml"),
            &format!(
                r#"<deploymentPolicy id="{id}"><partitionGroup id="np">
  <partitionAlgo>one-after-another</partitionAlgo>
  <partition id="p-{id}"><provider>mock</provider><min>{min}</min><max>{max}</max></partition>
</partitionGroup></deploymentPolicy>"#
            ),
        );
    }
    conf
}

/// selenium's python: ALTO_SELENIUM_PYTHON, else the venv scripts/selenium.sh installs.
fn selenium_python() -> PathBuf {
    if let Ok(python) = std::env::var("ALTO_SELENIUM_PYTHON") {
        return PathBuf::from(python);
    }
    let out = Command::new(repo_root().join("scripts/selenium.sh"))
        .output()
        .expect("run scripts/selenium.sh");
    assert!(
        out.status.success(),
        "scripts/selenium.sh failed (python3 with venv and PyPI are needed):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn tenant(alto: &Alto, domain: &str, password: &str) -> String {
    let (status, body) = alto.admin().post_json(
        "/api/tenants",
        &json!({"tenantDomain": domain, "admin": "boss", "adminPassword": password, "email": format!("boss@{domain}")}),
    );
    assert_eq!(status, 201, "{body}");
    format!("boss@{domain}")
}

fn subscribe(
    alto: &Alto,
    login: &str,
    password: &str,
    alias: &str,
    autoscale: &str,
    deployment: &str,
) -> String {
    alto.api(login, password)
        .subscribe("web", alias, autoscale, deployment)
}

#[test]
fn the_console_in_a_browser_shows_members_and_a_scale_up() {
    for tool in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: apt-get install chromium chromium-driver (scripts/test.sh does, through ensure_chromium)"
        );
    }
    let python = selenium_python();
    let dir = temp_dir("console");
    let conf = conf(&dir);
    let alto = Alto::start_with(
        &dir.join("data"),
        None,
        StartOptions {
            conf: Some(conf),
            ..Default::default()
        },
    );
    let (acme, acme_password) = (tenant(&alto, "acme.example", "acme-pass-1"), "acme-pass-1");
    let (other, other_password) = (
        tenant(&alto, "other.example", "other-pass-1"),
        "other-pass-1",
    );
    let cluster = subscribe(&alto, &acme, acme_password, "shop", "hot", "grow");
    let other_cluster = subscribe(&alto, &other, other_password, "blog", "steady", "one");

    let screenshots = repo_root().join("target/console-screenshots");
    let started = Instant::now();
    let out = Command::new(&python)
        .arg(repo_root().join("tests/console/console_test.py"))
        .env("ALTO_URL", &alto.url)
        .env("TENANT_LOGIN", &acme)
        .env("TENANT_PASSWORD", acme_password)
        .env("ADMIN_LOGIN", "admin")
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("CLUSTER_ID", &cluster)
        .env("OTHER_CLUSTER_ID", &other_cluster)
        .env("SCREENSHOTS", &screenshots)
        .env("CHROMIUM", CHROMIUM)
        .env("CHROMEDRIVER", CHROMEDRIVER)
        .output()
        .expect("run the selenium script");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "the browser test failed after {:?} (screenshots in {})",
        started.elapsed(),
        screenshots.display()
    );
    for shot in [
        "2-cluster-members",
        "3-cluster-scaled-up",
        "5-admin-definitions",
    ] {
        let path = screenshots.join(format!("{shot}.png"));
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(
            size > 1000,
            "screenshot {} missing or empty",
            path.display()
        );
    }
    println!("browser test took {:?}", started.elapsed());
    alto.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
