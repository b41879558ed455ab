use super::*;
use crate::args::{replica_id, MAX_REPLICA_ID};
use crate::server::conf_dir;
use clap::CommandFactory;
use std::net::SocketAddr;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    let mut argv = vec!["alto"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv)
}

#[test]
fn command_line_is_verified_by_clap() {
    Cli::command().debug_assert();
}

#[test]
fn dev_defaults_and_flags() {
    let cmd = Cli::command();
    let dev = cmd.find_subcommand("dev").expect("dev");
    let default = |id: &str| {
        dev.get_arguments()
            .find(|a| a.get_id() == id)
            .map(|a| {
                a.get_default_values()
                    .iter()
                    .map(|v| v.to_string_lossy().to_string())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_else(|| panic!("no --{id}"))
    };
    assert_eq!(default("data"), ["./.alto-data"]);
    assert_eq!(default("listen"), ["127.0.0.1:9443"]);
    assert!(
        default("conf").is_empty(),
        "conf falls back to ./conf only when it exists"
    );
    assert!(default("database_url").is_empty());
    assert_eq!(default("reconcile_interval"), ["60"]);
    assert_eq!(default("reconcile"), ["act"]);
    assert!(parse(&["dev", "--reconcile", "report"]).is_ok());
    assert_eq!(
        parse(&["dev", "--reconcile", "maybe"])
            .unwrap_err()
            .exit_code(),
        2
    );

    let cli = parse(&[
        "dev",
        "--data",
        "/tmp/d",
        "--conf",
        "/tmp/c",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        "sqlite:///tmp/x.db",
    ])
    .expect("dev parses");
    match cli.command {
        Command::Dev(a) => {
            assert_eq!(a.server.data, PathBuf::from("/tmp/d"));
            assert_eq!(a.server.conf, Some(PathBuf::from("/tmp/c")));
            assert_eq!(
                a.server.listen,
                "127.0.0.1:0".parse::<SocketAddr>().unwrap()
            );
            assert_eq!(a.database_url.as_deref(), Some("sqlite:///tmp/x.db"));
        }
        other => panic!("parsed as {other:?}"),
    }
    assert_eq!(
        parse(&["dev", "--listen", "not-an-address"])
            .unwrap_err()
            .exit_code(),
        2
    );
}

#[test]
fn serve_requires_a_database_url() {
    // Only meaningful when the developer's shell does not export it.
    if std::env::var_os("ALTO_DATABASE_URL").is_none() {
        assert_eq!(parse(&["serve"]).unwrap_err().exit_code(), 2);
    }
    let cli = parse(&[
        "serve",
        "--database-url",
        "postgres://u@h/db",
        "--listen",
        "0.0.0.0:9443",
    ])
    .expect("serve parses");
    match cli.command {
        Command::Serve(a) => {
            assert_eq!(a.database_url, "postgres://u@h/db");
            assert_eq!(a.server.listen.port(), 9443);
        }
        other => panic!("parsed as {other:?}"),
    }
    let help = Cli::command()
        .find_subcommand_mut("serve")
        .expect("serve")
        .render_long_help()
        .to_string();
    assert!(help.contains("AMQP"), "{help}");
}

#[test]
fn tls_flags_go_together_and_only_on_serve() {
    let db = ["serve", "--database-url", "postgres://u@h/db"];
    let with = |extra: &[&str]| parse(&[&db[..], extra].concat());
    match with(&["--tls-cert", "c.pem", "--tls-key", "k.pem"]).map(|c| c.command) {
        Ok(Command::Serve(a)) => {
            assert_eq!(a.tls.tls_cert, Some(PathBuf::from("c.pem")));
            assert_eq!(a.tls.tls_key, Some(PathBuf::from("k.pem")));
        }
        other => panic!("parsed as {other:?}"),
    }
    assert_eq!(with(&["--tls-cert", "c.pem"]).unwrap_err().exit_code(), 2);
    assert_eq!(with(&["--tls-key", "k.pem"]).unwrap_err().exit_code(), 2);
    // alto dev stays plain HTTP.
    assert!(parse(&["dev", "--tls-cert", "c.pem", "--tls-key", "k.pem"]).is_err());
    assert!(parse(&["dev", "--amqp-ca-cert", "ca.pem"]).is_ok());
}

#[test]
fn simulate_takes_its_three_files() {
    let cli = parse(&[
        "simulate",
        "--policy",
        "p.xml",
        "--deployment-policy",
        "d.xml",
        "--trace",
        "t.csv",
    ])
    .unwrap();
    assert!(
        matches!(cli.command, Command::Simulate { ref trace, boot_seconds, .. } if trace == Path::new("t.csv") && boot_seconds == 60.0)
    );
    assert_eq!(
        parse(&["simulate", "--policy", "p.xml"])
            .unwrap_err()
            .exit_code(),
        2
    );
}

#[test]
fn validate_and_client_commands_share_the_command_line() {
    assert!(
        matches!(parse(&["validate", "conf"]).unwrap().command, Command::Validate { ref path } if path == Path::new("conf"))
    );
    assert_eq!(parse(&["validate"]).unwrap_err().exit_code(), 2);
    for args in [
        vec!["list-cartridges"],
        vec!["describe-cartridge", "php"],
        vec!["deploy-cartridge", "-p", "c.xml"],
        vec!["undeploy-cartridge", "php"],
        vec!["deploy-autoscaling-policy", "-p", "a.xml"],
        vec!["deploy-deployment-policy", "-p", "d.json"],
        vec!["list-autoscaling-policies"],
        vec!["list-deployment-policies"],
        vec![
            "create-tenant",
            "--domain",
            "d",
            "--admin",
            "a",
            "--admin-password",
            "p",
        ],
        vec![
            "subscribe-cartridge",
            "php",
            "shop",
            "--autoscaling-policy",
            "a",
            "--deployment-policy",
            "d",
            "--wait",
        ],
        vec!["unsubscribe-cartridge", "shop", "--wait", "--timeout", "9"],
        vec!["list-subscribed-cartridges"],
        vec!["list-members", "shop", "--json"],
        vec!["list-clusters", "--url", "http://h:1"],
    ] {
        let cli = parse(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert!(matches!(cli.command, Command::Client(_)), "{args:?}");
    }
    assert_eq!(parse(&[]).unwrap_err().exit_code(), 2);
}

#[test]
fn completions_cover_every_command() {
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "alto", &mut script);
        let script = String::from_utf8(script).expect("utf-8");
        for command in [
            "subscribe-cartridge",
            "watch",
            "mock-cloud",
            "completions",
            "serve",
        ] {
            assert!(script.contains(command), "{shell}: no {command}");
        }
    }
    assert!(matches!(
        parse(&["completions", "bash"]).unwrap().command,
        Command::Completions { .. }
    ));
    assert_eq!(parse(&["completions", "tcsh"]).unwrap_err().exit_code(), 2);
}

#[test]
fn replica_ids_are_checked() {
    assert_eq!(replica_id(Some("r1".into()), 1).unwrap(), "r1");
    let default = replica_id(None, 9443).unwrap();
    assert!(default.ends_with(":9443"), "{default}");
    for bad in ["", "a b", "a/b", &"x".repeat(MAX_REPLICA_ID + 1)] {
        assert!(replica_id(Some(bad.to_string()), 1).is_err(), "{bad:?}");
    }
    let cli = parse(&["dev", "--replica-id", "r2", "--leader-lease", "3"]).unwrap();
    match cli.command {
        Command::Dev(a) => {
            assert_eq!(a.server.replica_id.as_deref(), Some("r2"));
            assert_eq!(a.server.leader_lease, 3.0);
        }
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn explicit_conf_must_exist() {
    assert!(conf_dir(Some(PathBuf::from("/definitely/not/here"))).is_err());
    let dir = std::env::temp_dir();
    assert_eq!(conf_dir(Some(dir.clone())).unwrap(), Some(dir));
}
