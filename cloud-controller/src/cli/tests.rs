use super::client::decode;
use super::wait::progress_line;
use super::*;
use clap::Parser;
use reqwest::StatusCode;

/// The client part of `alto`'s command line, as `main.rs` embeds it.
#[derive(Debug, Parser)]
#[command(name = "alto")]
struct TestCli {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: Command,
}

fn parse(args: &[&str]) -> Result<TestCli, clap::Error> {
    let mut argv = vec!["alto"];
    argv.extend_from_slice(args);
    TestCli::try_parse_from(argv)
}

fn ok(args: &[&str]) -> TestCli {
    parse(args).unwrap_or_else(|e| panic!("{args:?} must parse: {e}"))
}

fn usage_error(args: &[&str]) {
    match parse(args) {
        Ok(cli) => panic!("{args:?} must be refused, parsed as {cli:?}"),
        Err(e) => assert_eq!(e.exit_code(), 2, "{args:?}: {e}"),
    }
}

#[test]
fn command_line_is_verified_by_clap() {
    use clap::CommandFactory;
    TestCli::command().debug_assert();
}

#[test]
fn list_commands_take_no_arguments() {
    assert!(matches!(
        ok(&["list-cartridges"]).command,
        Command::ListCartridges
    ));
    assert!(matches!(
        ok(&["list-autoscaling-policies"]).command,
        Command::ListAutoscalingPolicies
    ));
    assert!(matches!(
        ok(&["list-deployment-policies"]).command,
        Command::ListDeploymentPolicies
    ));
    assert!(matches!(
        ok(&["list-subscribed-cartridges"]).command,
        Command::ListSubscribedCartridges(PageArgs { limit: None })
    ));
    assert!(matches!(
        ok(&["list-clusters"]).command,
        Command::ListClusters(PageArgs { limit: None })
    ));
    assert!(matches!(
        ok(&["list-clusters", "--limit", "7"]).command,
        Command::ListClusters(PageArgs { limit: Some(7) })
    ));
    usage_error(&["list-clusters", "--limit", "0"]);
    usage_error(&["list-clusters", "--limit", "1001"]);
    usage_error(&["list-cartridges", "extra"]);
    usage_error(&["no-such-command"]);
}

#[test]
fn global_options_go_before_or_after_the_command() {
    let cli = ok(&[
        "--url",
        "http://h:1",
        "--user",
        "boss@acme",
        "--password",
        "pw",
        "--json",
        "list-clusters",
    ]);
    assert_eq!(cli.conn.url, "http://h:1");
    assert_eq!(cli.conn.user, "boss@acme");
    assert_eq!(cli.conn.password.as_deref(), Some("pw"));
    assert!(cli.conn.json);
    let cli = ok(&["explain", "shop", "--last", "5"]);
    assert!(matches!(cli.command, Command::Explain { ref alias, last: 5 } if alias == "shop"));
    usage_error(&["explain"]);
    let cli = ok(&["list-members", "shop", "--json", "--url", "http://x:2"]);
    assert!(cli.conn.json);
    assert_eq!(cli.conn.url, "http://x:2");
    assert!(matches!(cli.command, Command::ListMembers(ref a) if a.alias() == "shop"));
}

#[test]
fn defaults_and_environment() {
    // Read from the definition rather than the process environment: tests run in parallel and
    // a developer's shell may export ALTO_* itself.
    use clap::CommandFactory;
    let cmd = TestCli::command();
    let arg = |id: &str| {
        cmd.get_arguments()
            .find(|a| a.get_id() == id)
            .unwrap_or_else(|| panic!("no --{id}"))
            .clone()
    };
    let default = |id: &str| {
        arg(id)
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(default("url"), ["http://127.0.0.1:9443"]);
    assert_eq!(default("user"), ["admin"]);
    assert!(default("password").is_empty());
    assert_eq!(
        arg("url").get_env().and_then(|e| e.to_str()),
        Some("ALTO_URL")
    );
    assert_eq!(
        arg("user").get_env().and_then(|e| e.to_str()),
        Some("ALTO_USER")
    );
    assert_eq!(
        arg("password").get_env().and_then(|e| e.to_str()),
        Some("ALTO_PASSWORD")
    );
    // `--help` must never show the password taken from the environment.
    assert!(arg("password").is_hide_env_values_set());
    for id in ["url", "user", "password", "json"] {
        assert!(arg(id).is_global_set(), "--{id} must be global");
    }
    let cli = ok(&["--password", "pw", "list-cartridges"]);
    assert_eq!(cli.conn.password.as_deref(), Some("pw"));
    assert!(!ok(&["list-cartridges"]).conn.json);
}

#[test]
fn deploy_commands_take_a_resource_path() {
    for (name, long) in [
        ("deploy-cartridge", "--resource-path"),
        ("deploy-autoscaling-policy", "--file"),
        ("deploy-deployment-policy", "-p"),
    ] {
        let cli = ok(&[name, long, "x/def.xml"]);
        let path = match cli.command {
            Command::DeployCartridge(a)
            | Command::DeployAutoscalingPolicy(a)
            | Command::DeployDeploymentPolicy(a) => a.path,
            other => panic!("{name} parsed as {other:?}"),
        };
        assert_eq!(path, PathBuf::from("x/def.xml"));
        usage_error(&[name]);
    }
    assert!(matches!(
        ok(&["deploy-cartridge", "-p", "a.xml"]).command,
        Command::DeployCartridge(_)
    ));
    assert!(matches!(
        ok(&["deploy-autoscaling-policy", "-p", "a.xml"]).command,
        Command::DeployAutoscalingPolicy(_)
    ));
}

#[test]
fn cartridge_type_arguments() {
    assert!(
        matches!(ok(&["undeploy-cartridge", "php"]).command, Command::UndeployCartridge { ref cartridge_type } if cartridge_type == "php")
    );
    assert!(
        matches!(ok(&["describe-cartridge", "php"]).command, Command::DescribeCartridge { ref cartridge_type } if cartridge_type == "php")
    );
    usage_error(&["undeploy-cartridge"]);
    usage_error(&["list-members"]);
}

#[test]
fn create_tenant_long_names_and_stratos_aliases() {
    let expect = |cli: TestCli| match cli.command {
        Command::CreateTenant(a) => {
            assert_eq!(a.domain, "acme.example");
            assert_eq!(a.admin, "boss");
            assert_eq!(a.admin_password, "pw1");
            a.email
        }
        other => panic!("parsed as {other:?}"),
    };
    let email = expect(ok(&[
        "create-tenant",
        "--domain",
        "acme.example",
        "--admin",
        "boss",
        "--admin-password",
        "pw1",
        "--email",
        "b@acme.example",
    ]));
    assert_eq!(email, "b@acme.example");
    let email = expect(ok(&[
        "create-tenant",
        "--domain-name",
        "acme.example",
        "--username",
        "boss",
        "--admin-password",
        "pw1",
    ]));
    assert_eq!(email, "");
    expect(ok(&[
        "create-tenant",
        "-d",
        "acme.example",
        "-u",
        "boss",
        "-p",
        "pw1",
        "-e",
        "b@x",
    ]));
    usage_error(&[
        "create-tenant",
        "--domain",
        "acme.example",
        "--admin",
        "boss",
    ]);
    usage_error(&[
        "create-tenant",
        "--admin",
        "boss",
        "--admin-password",
        "pw1",
    ]);
}

#[test]
fn subscribe_cartridge_arguments() {
    let cli = ok(&[
        "subscribe-cartridge",
        "php",
        "shop",
        "--autoscaling-policy",
        "economy",
        "--deployment-policy",
        "dep",
        "--wait",
        "--timeout",
        "30",
    ]);
    match cli.command {
        Command::SubscribeCartridge(a) => {
            assert_eq!(
                (a.cartridge_type.as_str(), a.alias.as_str()),
                ("php", "shop")
            );
            assert_eq!(a.autoscaling_policy, "economy");
            assert_eq!(a.deployment_policy, "dep");
            assert!(a.wait.wait);
            assert_eq!(a.wait.timeout, 30);
        }
        other => panic!("parsed as {other:?}"),
    }
    let cli = ok(&[
        "subscribe-cartridge",
        "php",
        "shop",
        "-a",
        "economy",
        "-d",
        "dep",
    ]);
    match cli.command {
        Command::SubscribeCartridge(a) => {
            assert!(!a.wait.wait);
            assert_eq!(a.wait.timeout, 300);
        }
        other => panic!("parsed as {other:?}"),
    }
    assert!(matches!(
        ok(&[
            "subscribe-cartridge",
            "php",
            "shop",
            "--autoscale-policy",
            "e",
            "--deployment-policy",
            "d"
        ])
        .command,
        Command::SubscribeCartridge(_)
    ));
    usage_error(&[
        "subscribe-cartridge",
        "php",
        "shop",
        "--deployment-policy",
        "dep",
    ]);
    usage_error(&[
        "subscribe-cartridge",
        "php",
        "--autoscaling-policy",
        "e",
        "--deployment-policy",
        "d",
    ]);
    usage_error(&[
        "subscribe-cartridge",
        "php",
        "shop",
        "-a",
        "e",
        "-d",
        "d",
        "--timeout",
        "5",
    ]); // needs --wait
    usage_error(&[
        "subscribe-cartridge",
        "php",
        "shop",
        "-a",
        "e",
        "-d",
        "d",
        "--wait",
        "--timeout",
        "soon",
    ]);
}

#[test]
fn unsubscribe_cartridge_arguments() {
    match ok(&["unsubscribe-cartridge", "shop", "--wait"]).command {
        Command::UnsubscribeCartridge(a) => {
            assert_eq!(a.alias, "shop");
            assert!(a.wait.wait);
            assert_eq!(a.wait.timeout, 300);
        }
        other => panic!("parsed as {other:?}"),
    }
    match ok(&["unsubscribe-cartridge", "shop"]).command {
        Command::UnsubscribeCartridge(a) => assert!(!a.wait.wait),
        other => panic!("parsed as {other:?}"),
    }
    usage_error(&["unsubscribe-cartridge"]);
}

#[test]
fn definition_files_are_sent_by_extension() {
    assert_eq!(
        content_type_for(Path::new("a/cartridge.json")),
        "application/json"
    );
    assert_eq!(
        content_type_for(Path::new("a/CARTRIDGE.JSON")),
        "application/json"
    );
    assert_eq!(
        content_type_for(Path::new("a/cartridge.xml")),
        "application/xml"
    );
    assert_eq!(content_type_for(Path::new("cartridge")), "application/xml");
}

#[test]
fn client_urls_encode_segments() {
    let conn = Connection {
        url: "http://h:9443/".into(),
        user: "admin".into(),
        password: Some("x".into()),
        json: false,

        ca_cert: None,
    };
    let client = client::Client::new(&conn).unwrap();
    assert_eq!(
        client.url(&["api", "clusters", "shop.php.domain"]).as_str(),
        "http://h:9443/api/clusters/shop.php.domain"
    );
    assert_eq!(
        client.url(&["api", "subscriptions", "a b/c"]).as_str(),
        "http://h:9443/api/subscriptions/a%20b%2Fc"
    );
    let conn = Connection {
        password: None,
        ..conn
    };
    assert!(client::Client::new(&conn)
        .unwrap_err()
        .to_string()
        .contains("ALTO_PASSWORD"));
    let conn = Connection {
        url: "ftp://h".into(),
        password: Some("x".into()),
        ..conn
    };
    assert!(client::Client::new(&conn).is_err());
}

#[test]
fn api_errors_are_decoded_with_their_problems() {
    let body = br#"{"status":400,"message":"invalid: 2 problems","problems":["request body:3:5: a","request body:7:1: b"]}"#;
    match decode(StatusCode::BAD_REQUEST, body) {
        Err(CliError::Api {
            status,
            message,
            problems,
        }) => {
            assert_eq!(status, 400);
            assert_eq!(message, "invalid: 2 problems");
            assert_eq!(problems, ["request body:3:5: a", "request body:7:1: b"]);
        }
        other => panic!("{other:?}"),
    }
    let err = decode(
        StatusCode::UNAUTHORIZED,
        br#"{"status":401,"message":"authentication required"}"#,
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("authentication required"),
        "{err}"
    );
    let err = decode(StatusCode::BAD_GATEWAY, b"<html>proxy</html>").unwrap_err();
    assert!(
        err.to_string().contains("502") && err.to_string().contains("proxy"),
        "{err}"
    );
    assert_eq!(decode(StatusCode::NO_CONTENT, b"").unwrap(), Value::Null);
    assert_eq!(decode(StatusCode::OK, b"[1]").unwrap(), json!([1]));
    assert!(decode(StatusCode::OK, b"not json").is_err());
}

#[test]
fn progress_lines_count_the_target_state() {
    let cluster =
        json!({"members": [{"state": "Active"}, {"state": "Starting"}, {"state": "Created"}]});
    assert_eq!(
        progress_line(&cluster, "Active", 2),
        (
            1,
            "1/2 members Active (Created: 1, Starting: 1)".to_string()
        )
    );
    let cluster = json!({"members": [{"state": "Active"}, {"state": "Active"}]});
    assert_eq!(
        progress_line(&cluster, "Active", 2),
        (2, "2/2 members Active".to_string())
    );
    assert_eq!(
        progress_line(&json!({"members": []}), "Terminated", 0),
        (0, "0/0 members Terminated".to_string())
    );
    // The counts cover every member, not the one page of them the response carries.
    let paged = json!({"memberCounts": {"Active": 250, "Starting": 3, "Terminated": 0},
                       "members": [{"state": "Active"}], "nextCursor": "bTox"});
    assert_eq!(
        progress_line(&paged, "Active", 300),
        (250, "250/300 members Active (Starting: 3)".to_string())
    );
}

#[test]
fn tables_show_the_fields() {
    let members = json!([
        {"memberId": "shop.php.domain-m1", "state": "Active", "instanceId": "i-0001", "providerType": "mock",
         "networkPartitionId": "np1", "partitionId": "p1", "privateIps": ["10.0.0.7"], "publicIps": ["54.1.2.3", "54.1.2.4"],
         "lastError": null, "createdAt": 1, "updatedAt": 2},
        {"memberId": "shop.php.domain-m2", "state": "Starting", "instanceId": null, "providerType": "mock",
         "networkPartitionId": "np1", "partitionId": "p2", "privateIps": [], "publicIps": [], "lastError": "quota", "createdAt": 1, "updatedAt": 2}
    ]);
    let out = render::members(&members).to_string();
    let lines: Vec<&str> = out.lines().collect();
    let header = lines
        .iter()
        .find(|l| l.contains("Member ID"))
        .expect("header");
    for col in [
        "State",
        "Partition",
        "Private IPs",
        "Public IPs",
        "Instance ID",
    ] {
        assert!(header.contains(col), "{out}");
    }
    let m1 = lines
        .iter()
        .find(|l| l.contains("shop.php.domain-m1"))
        .expect("row m1");
    for cell in [
        "Active",
        "np1/p1",
        "10.0.0.7",
        "54.1.2.3, 54.1.2.4",
        "i-0001",
    ] {
        assert!(m1.contains(cell), "{cell} missing in {m1}");
    }
    let m2 = lines
        .iter()
        .find(|l| l.contains("shop.php.domain-m2"))
        .expect("row m2");
    assert!(
        m2.contains("Starting") && m2.contains("np1/p2") && m2.contains("quota"),
        "{m2}"
    );

    let subs = json!([{"alias": "shop", "cartridgeType": "php", "autoscalePolicy": "economy", "deploymentPolicy": "dep",
        "clusterId": "shop.php.domain", "hostName": "shop.php.example.org", "tenantId": 1, "status": "Active",
        "minMembers": 2, "membersTotal": 2, "membersActive": 1}]);
    let out = render::subscriptions(&subs).to_string();
    let row = out
        .lines()
        .find(|l| l.contains("shop.php.domain"))
        .expect("row");
    for cell in [
        "shop",
        "php",
        "Active",
        "1/2, min 2",
        "shop.php.example.org",
        "economy",
        "dep",
    ] {
        assert!(row.contains(cell), "{cell} missing in {row}");
    }

    let clusters = json!([{"clusterId": "shop.php.domain", "alias": "shop", "serviceName": "php", "hostName": "h",
        "status": "Active", "members": [{"state": "Active"}, {"state": "Terminated"}]}]);
    let out = render::clusters(&clusters).to_string();
    let row = out
        .lines()
        .find(|l| l.contains("shop.php.domain"))
        .expect("row");
    let cells: Vec<&str> = row
        .split(['│', '┆'])
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        cells,
        ["shop.php.domain", "shop", "php", "Active", "2", "1", "h"],
        "{row}"
    );

    let empty = render::cartridges(&json!([])).to_string();
    assert!(
        empty.contains("Type") && empty.lines().count() <= 4,
        "{empty}"
    );
}

#[test]
fn policy_tables_read_both_policy_shapes() {
    let autoscale = json!([{"id": "economy", "loadThresholds": {"requestsInFlight": {"threshold": 50.0}, "memoryConsumption": null}}]);
    let out = render::autoscaling_policies(&autoscale).to_string();
    let row = out.lines().find(|l| l.contains("economy")).expect("row");
    assert!(row.contains("50.0"), "{row}");
    let deployment = json!([{"id": "dep", "partitionGroups": [{"id": "np1", "algorithm": "round-robin",
        "partitions": [{"id": "p1", "min": 1, "max": 3}, {"id": "p2", "min": null, "max": 2}]}]}]);
    let out = render::deployment_policies(&deployment).to_string();
    let row = out.lines().find(|l| l.contains("np1")).expect("row");
    assert!(
        row.contains("round-robin") && row.contains("p1 (1..3)") && row.contains("p2 (-..2)"),
        "{row}"
    );
}

#[test]
fn a_watch_frame_shows_status_members_and_the_latest_decision() {
    let cluster = json!({
        "clusterId": "shop.php.domain", "status": "Active",
        "members": [
            {"memberId": "m-1", "state": "Active", "partitionId": "p1"},
            {"memberId": "m-2", "state": "Terminated", "partitionId": "p1"}
        ]
    });
    let decisions = json!([
        {"reason": "below minimum: starting 2", "time": 1.0},
        {"reason": "within thresholds (required 1, have 1)", "time": 2.0}
    ]);
    let frame = watch::frame(&cluster, &decisions);
    assert!(
        frame.starts_with("shop.php.domain  Active  (1 live members)"),
        "{frame}"
    );
    assert!(frame.contains("m-1") && frame.contains("m-2"), "{frame}");
    assert!(frame.contains("within thresholds"), "{frame}");
    assert!(
        !frame.contains("below minimum"),
        "only the latest decision: {frame}"
    );
    assert!(watch::frame(&cluster, &json!([])).contains("no decision yet"));
}

#[test]
fn watch_parses_its_interval_and_count() {
    let cli =
        TestCli::try_parse_from(["alto", "watch", "shop", "--interval", "0.5", "--count", "3"])
            .expect("parses");
    assert!(matches!(
        cli.command,
        Command::Watch { ref alias, interval, count: Some(3) } if alias == "shop" && interval == 0.5
    ));
}

/// Parse as `main` does: Stratos' spellings rewritten first (no environment).
fn ok_stratos(args: &[&str]) -> TestCli {
    let mut argv = vec![std::ffi::OsString::from("alto")];
    argv.extend(args.iter().map(std::ffi::OsString::from));
    let argv = stratos_argv(argv, &|_| None);
    TestCli::try_parse_from(argv).unwrap_or_else(|e| panic!("{args:?} must parse: {e}"))
}

#[test]
fn stratos_4_1_command_names_are_aliases() {
    for (name, expected) in [
        ("add-cartridge", "deploy-cartridge"),
        ("add-autoscaling-policy", "deploy-autoscaling-policy"),
        ("add-deployment-policy", "deploy-deployment-policy"),
    ] {
        let cli = ok(&[name, "-p", "f.xml"]);
        let got = match cli.command {
            Command::DeployCartridge(a) => ("deploy-cartridge", a.path),
            Command::DeployAutoscalingPolicy(a) => ("deploy-autoscaling-policy", a.path),
            Command::DeployDeploymentPolicy(a) => ("deploy-deployment-policy", a.path),
            other => panic!("{name} parsed as {other:?}"),
        };
        assert_eq!(got, (expected, PathBuf::from("f.xml")), "{name}");
    }
    assert!(matches!(
        ok(&["remove-cartridge", "php"]).command,
        Command::UndeployCartridge { ref cartridge_type } if cartridge_type == "php"
    ));
    // 4.1's add-tenant options, -f/-l included.
    let cli = ok(&[
        "add-tenant",
        "-u",
        "boss",
        "-f",
        "Big",
        "-l",
        "Boss",
        "-p",
        "pw",
        "-d",
        "acme.example",
        "-e",
        "b@acme.example",
    ]);
    assert!(matches!(
        cli.command,
        Command::CreateTenant(ref t)
            if t.domain == "acme.example" && t.admin == "boss" && t.first_name.as_deref() == Some("Big")
    ));
    assert!(matches!(
        ok(&["describe-autoscaling-policy", "economy"]).command,
        Command::DescribeAutoscalingPolicy { ref id } if id == "economy"
    ));
    assert!(matches!(
        ok(&["describe-deployment-policy", "dp1"]).command,
        Command::DescribeDeploymentPolicy { ref id } if id == "dp1"
    ));
    usage_error(&["describe-deployment-policy"]);
    // The aliases are visible: `--help` lists them.
    use clap::CommandFactory;
    let help = TestCli::command().render_help().to_string();
    for alias in [
        "add-cartridge",
        "add-autoscaling-policy",
        "add-deployment-policy",
        "add-tenant",
        "remove-cartridge",
    ] {
        assert!(help.contains(alias), "{alias} missing from --help:\n{help}");
    }
}

#[test]
fn stratos_4_0_short_options() {
    let cli = ok_stratos(&[
        "subscribe-cartridge",
        "php",
        "shop",
        "-ap",
        "economy",
        "-dp",
        "dp1",
    ]);
    assert!(matches!(
        cli.command,
        Command::SubscribeCartridge(ref s)
            if s.autoscaling_policy == "economy" && s.deployment_policy == "dp1" && s.alias == "shop"
    ));
    // Without the rewrite clap would read `-ap` as `-a p`: the rewrite is what makes it work.
    usage_error(&[
        "subscribe-cartridge",
        "php",
        "shop",
        "-ap",
        "economy",
        "-dp",
        "dp1",
    ]);
    let cli = ok(&["list-members", "-t", "php", "-a", "shop"]);
    assert!(matches!(
        cli.command,
        Command::ListMembers(ref m) if m.alias() == "shop" && m.cartridge_type.as_deref() == Some("php")
    ));
    usage_error(&["list-members"]);
    usage_error(&["list-members", "shop", "-a", "other"]);
}
