//! How the aws-ec2 driver handles cloud errors: a scripted EC2 look-alike on loopback answers
//! with crafted error documents (quota, throttling with Retry-After, auth, HTML pages), and the
//! tests check the error class, the code, that no secret leaks and how often calls are retried.

mod ec2_support;

use ec2_support::*;
use iaas::{ErrorClass, Iaas, InstanceFilter};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
struct Request {
    action: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn param(&self, name: &str) -> Option<String> {
        self.body.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == name).then(|| percent_decode(v))
        })
    }
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn xml(status: u16, body: &str) -> Reply {
    Reply {
        status,
        headers: vec![("Content-Type", "text/xml;charset=UTF-8".into())],
        body: body.to_string(),
    }
}

fn ec2_error(status: u16, code: &str, message: &str) -> Reply {
    xml(
        status,
        &format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
             <Message>{message}</Message></Error></Errors><RequestID>req-1</RequestID></Response>"
        ),
    )
}

const INSTANCE: &str = "<item><instanceId>i-fake1</instanceId>\
    <instanceState><code>16</code><name>running</name></instanceState>\
    <placement><availabilityZone>us-east-1a</availabilityZone></placement>\
    <tagSet><item><key>altostratus:managed-by</key><value>altostratus</value></item>\
    <item><key>altostratus:member-id</key><value>m1</value></item></tagSet></item>";

fn run_ok() -> Reply {
    xml(
        200,
        &format!(
            "<RunInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <reservationId>r-1</reservationId><instancesSet>{INSTANCE}</instancesSet></RunInstancesResponse>"
        ),
    )
}

fn describe(with_instance: bool) -> Reply {
    let items = if with_instance {
        format!("<item><reservationId>r-1</reservationId><instancesSet>{INSTANCE}</instancesSet></item>")
    } else {
        String::new()
    };
    xml(
        200,
        &format!(
            "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <reservationSet>{items}</reservationSet></DescribeInstancesResponse>"
        ),
    )
}

type Script = dyn Fn(&Request, usize) -> Reply + Send + Sync;

/// A scripted EC2 endpoint: `script(request, n)` answers the n-th (0-based) call of that action.
struct FakeEc2 {
    endpoint: String,
    requests: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeEc2 {
    async fn start(script: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static) -> FakeEc2 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let script: Arc<Script> = Arc::new(script);
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let (seen, script) = (seen.clone(), script.clone());
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut socket).await else {
                        return;
                    };
                    let n = {
                        let mut seen = seen.lock().unwrap();
                        let n = seen.iter().filter(|r| r.action == request.action).count();
                        seen.push(request.clone());
                        n
                    };
                    let reply = script(&request, n);
                    let mut head = format!("HTTP/1.1 {} Fake\r\n", reply.status);
                    for (name, value) in &reply.headers {
                        head.push_str(&format!("{name}: {value}\r\n"));
                    }
                    head.push_str(&format!(
                        "Content-Length: {}\r\nConnection: close\r\n\r\n",
                        reply.body.len()
                    ));
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(reply.body.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        FakeEc2 {
            endpoint,
            requests,
            task,
        }
    }

    fn calls(&self, action: &str) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.action == action)
            .cloned()
            .collect()
    }
}

impl Drop for FakeEc2 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).to_string();
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < header_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buffer[header_end..header_end + length]).to_string();
    let action = body
        .split('&')
        .find_map(|p| p.strip_prefix("Action="))
        .unwrap_or("")
        .to_string();
    Some(Request {
        action,
        headers,
        body,
    })
}

fn assert_no_secrets(err: &iaas::IaasError, payload: Option<&str>) {
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(SECRET_KEY), "secret key leaked: {shown}");
    assert!(!shown.contains(ACCESS_KEY), "access key leaked: {shown}");
    assert!(!shown.contains("CARTRIDGE_KEY"), "payload leaked: {shown}");
    if let Some(payload) = payload {
        assert!(!shown.contains(payload), "payload leaked: {shown}");
    }
}

#[tokio::test]
async fn quota_errors_carry_class_code_and_message_and_are_not_retried() {
    let fake = FakeEc2::start(|r, _| match r.action.as_str() {
        "DescribeInstances" => describe(false),
        "RunInstances" => ec2_error(
            400,
            "InstanceLimitExceeded",
            "You have requested more instances (21) than your current instance limit of 20 allows",
        ),
        _ => ec2_error(400, "InvalidAction", "unexpected"),
    })
    .await;
    let driver = driver(
        &fake.endpoint,
        &[
            ("instanceType", "m5.large"),
            ("securityGroupIds", "sg-1, sg-2"),
            ("subnetId", "subnet-9"),
        ],
    );
    let spec = spec("m1", "c1", &[("zone", "us-east-1c")]);
    let err = driver.start_instance(&spec).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Quota, "{err}");
    assert_eq!(err.code.as_deref(), Some("InstanceLimitExceeded"));
    assert_eq!(err.operation, "RunInstances");
    assert!(
        err.message.contains("current instance limit of 20"),
        "{err}"
    );
    assert_no_secrets(&err, Some(&spec.payload));

    let runs = fake.calls("RunInstances");
    assert_eq!(runs.len(), 1, "a quota error is not retried");
    // What went over the wire: a signed EC2 Query API request.
    let run = &runs[0];
    let auth = run.header("authorization").expect("signed");
    assert!(
        auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/"))
            && auth.contains("/us-east-1/ec2/aws4_request"),
        "{auth}"
    );
    assert!(!auth.contains(SECRET_KEY));
    assert!(run.header("x-amz-date").is_some());
    assert_eq!(run.param("Version").as_deref(), Some("2016-11-15"));
    assert_eq!(run.param("ImageId").as_deref(), Some("ami-12c6146b"));
    assert_eq!(run.param("InstanceType").as_deref(), Some("m5.large"));
    assert_eq!(run.param("SecurityGroupId.2").as_deref(), Some("sg-2"));
    assert_eq!(run.param("SubnetId").as_deref(), Some("subnet-9"));
    assert_eq!(
        run.param("Placement.AvailabilityZone").as_deref(),
        Some("us-east-1c")
    );
    assert_eq!(
        run.param("ClientToken"),
        Some(iaas::ec2::client_token("m1"))
    );
    use base64::Engine;
    let user_data = base64::engine::general_purpose::STANDARD
        .decode(run.param("UserData").unwrap())
        .unwrap();
    assert_eq!(user_data, spec.payload.as_bytes());
    assert_eq!(
        run.param("TagSpecification.1.ResourceType").as_deref(),
        Some("instance")
    );
    assert!(
        run.body.contains("altostratus%3Amanaged-by"),
        "{}",
        run.body
    );
}

#[tokio::test]
async fn throttling_is_retried_a_bounded_number_of_times_honouring_retry_after() {
    let fake = FakeEc2::start(|r, _| match r.action.as_str() {
        "DescribeInstances" => describe(false),
        _ => {
            let mut reply = ec2_error(503, "RequestLimitExceeded", "Request limit exceeded.");
            reply.headers.push(("Retry-After", "1".into()));
            reply
        }
    })
    .await;
    let driver = driver(&fake.endpoint, &[("ec2.retry.max", "2")]);
    let spec = spec("m1", "c1", &[]);
    let started = Instant::now();
    let err = driver.start_instance(&spec).await.unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(
        err.class,
        ErrorClass::RateLimited {
            retry_after: Some(Duration::from_secs(1))
        },
        "{err}"
    );
    assert_eq!(err.code.as_deref(), Some("RequestLimitExceeded"));
    assert_no_secrets(&err, Some(&spec.payload));
    let runs = fake.calls("RunInstances");
    assert_eq!(runs.len(), 3, "one attempt and ec2.retry.max=2 retries");
    assert!(
        elapsed >= Duration::from_secs(2),
        "two waits of the 1s Retry-After hint, took {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    // Every attempt carries the same ClientToken, so EC2 starts at most one instance.
    let tokens: Vec<_> = runs.iter().map(|r| r.param("ClientToken")).collect();
    assert!(
        tokens.iter().all(|t| t == &tokens[0] && t.is_some()),
        "{tokens:?}"
    );
}

#[tokio::test]
async fn a_throttled_start_succeeds_once_the_cloud_lets_it() {
    let fake = FakeEc2::start(|r, n| match r.action.as_str() {
        "DescribeInstances" => describe(false),
        "RunInstances" if n < 2 => ec2_error(503, "RequestLimitExceeded", "slow down"),
        "RunInstances" => run_ok(),
        _ => ec2_error(400, "InvalidAction", "unexpected"),
    })
    .await;
    let driver = driver(&fake.endpoint, &[]);
    let instance = driver
        .start_instance(&spec("m1", "c1", &[]))
        .await
        .expect("start");
    assert_eq!(instance.instance_id, "i-fake1");
    assert_eq!(fake.calls("RunInstances").len(), 3);
}

#[tokio::test]
async fn calls_that_would_create_twice_are_not_retried_and_a_half_start_is_cleaned_up() {
    let fake = FakeEc2::start(|r, _| match r.action.as_str() {
        // The member check finds nothing; the lookup by id (cleanup) finds the instance.
        "DescribeInstances" => describe(r.param("InstanceId.1").is_some()),
        "RunInstances" => run_ok(),
        "DescribeAddresses" => xml(
            200,
            "<DescribeAddressesResponse><addressesSet/></DescribeAddressesResponse>",
        ),
        "DescribeVolumes" => xml(
            200,
            "<DescribeVolumesResponse><volumeSet/></DescribeVolumesResponse>",
        ),
        "AllocateAddress" => ec2_error(503, "RequestLimitExceeded", "slow down"),
        "TerminateInstances" => xml(
            200,
            "<TerminateInstancesResponse><instancesSet/></TerminateInstancesResponse>",
        ),
        _ => ec2_error(400, "InvalidAction", "unexpected"),
    })
    .await;
    let driver = driver(&fake.endpoint, &[("autoAssignIp", "false")]);
    let err = driver
        .start_instance(&spec("m1", "c1", &[]))
        .await
        .unwrap_err();
    assert!(matches!(err.class, ErrorClass::RateLimited { .. }), "{err}");
    assert_eq!(
        fake.calls("AllocateAddress").len(),
        1,
        "AllocateAddress is never repeated"
    );
    let terminations = fake.calls("TerminateInstances");
    assert_eq!(
        terminations.len(),
        1,
        "the instance without its address is terminated"
    );
    assert_eq!(
        terminations[0].param("InstanceId.1").as_deref(),
        Some("i-fake1")
    );
}

#[tokio::test]
async fn auth_failures_are_not_retried() {
    let fake = FakeEc2::start(|_, _| {
        ec2_error(
            401,
            "AuthFailure",
            "AWS was not able to validate the provided access credentials",
        )
    })
    .await;
    let driver = driver(&fake.endpoint, &[]);
    let err = driver
        .describe_instances(&InstanceFilter::default())
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth);
    assert_eq!(err.code.as_deref(), Some("AuthFailure"));
    assert_eq!(fake.calls("DescribeInstances").len(), 1);
    assert_no_secrets(&err, None);
}

#[tokio::test]
async fn html_and_other_non_xml_answers_become_clear_errors() {
    let fake = FakeEc2::start(|r, _| match r.action.as_str() {
        "DescribeInstances" => Reply {
            status: 500,
            headers: vec![("Content-Type", "text/html; charset=utf-8".into())],
            body: "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n\
                   <h1>Internal Server Error</h1><p>The server encountered an internal error"
                .into(),
        },
        "TerminateInstances" | "DescribeAddresses" => Reply {
            status: 404,
            headers: vec![("Content-Type", "text/plain".into())],
            body: "no such thing".into(),
        },
        _ => Reply {
            status: 200,
            headers: vec![],
            body: "this is not XML <<<".into(),
        },
    })
    .await;
    let driver = driver(&fake.endpoint, &[("ec2.retry.max", "1")]);
    let err = driver
        .describe_instances(&InstanceFilter::default())
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient, "{err}");
    assert!(err.message.contains("not an EC2 error document"), "{err}");
    assert!(err.message.contains("text/html"), "{err}");
    assert!(
        !err.message.contains("Internal Server Error"),
        "the body is not echoed: {err}"
    );
    assert_eq!(
        fake.calls("DescribeInstances").len(),
        2,
        "transient: retried, bounded"
    );

    let err = driver
        .client()
        .call(
            REGION,
            "DescribeAddresses",
            &[],
            iaas::ec2::api::Idempotency::Safe,
        )
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::InvalidRequest, "{err}");
    assert_eq!(fake.calls("DescribeAddresses").len(), 1, "4xx: not retried");

    let err = driver
        .client()
        .call(
            REGION,
            "DescribeRegions",
            &[],
            iaas::ec2::api::Idempotency::Safe,
        )
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient, "{err}");
    assert!(err.message.contains("unreadable body"), "{err}");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_transient() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = driver(
        &format!("http://127.0.0.1:{port}"),
        &[("ec2.retry.max", "1")],
    );
    let err = driver
        .describe_instances(&InstanceFilter::default())
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient, "{err}");
    assert!(
        err.message.to_lowercase().contains("connect"),
        "says why: {err}"
    );
    assert_no_secrets(&err, None);
}
