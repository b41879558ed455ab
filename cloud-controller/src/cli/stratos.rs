//! Stratos' spellings on `alto`'s command line: 4.0's multi-letter short options and its
//! `STRATOS_*` variables, rewritten into our own arguments before clap parses them.
//!
//! clap's short options are one character, so Stratos 4.0's `-ap`/`-dp` (Apache Commons CLI
//! options) cannot be declared; this one rewrite turns them into the long options. The
//! `STRATOS_URL`, `STRATOS_USERNAME` and `STRATOS_PASSWORD` variables are fallbacks: a
//! command-line option wins, then `ALTO_*`, then `STRATOS_*`, then the default.

use std::ffi::OsString;

/// Stratos 4.0's multi-letter short options and the long options they mean here.
const MULTI_LETTER_SHORTS: &[(&str, &str)] = &[
    ("-ap", "--autoscaling-policy"),
    ("-dp", "--deployment-policy"),
];

/// Connection settings: our option, our variable, Stratos' variable.
const ENV_FALLBACKS: &[(&str, &str, &str)] = &[
    ("--url", "ALTO_URL", "STRATOS_URL"),
    ("--user", "ALTO_USER", "STRATOS_USERNAME"),
    ("--password", "ALTO_PASSWORD", "STRATOS_PASSWORD"),
];

/// `args` (program name first) with Stratos' spellings turned into ours. `env` reads a
/// variable (the process environment in `main`, a map in tests). Nothing after a `--` is
/// touched; a `STRATOS_*` value is used only when neither the option nor the `ALTO_*`
/// variable is given, and is passed on as `--option=value` right after the program name (the
/// connection options are global, so that position serves every command).
pub fn stratos_argv(args: Vec<OsString>, env: &dyn Fn(&str) -> Option<String>) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::with_capacity(args.len() + ENV_FALLBACKS.len());
    let mut ended = false;
    for arg in args {
        if ended {
            out.push(arg);
            continue;
        }
        if arg == "--" {
            ended = true;
            out.push(arg);
            continue;
        }
        out.push(rewrite_short(arg));
    }
    let given = |flag: &str| {
        let with_value = format!("{flag}=");
        out.iter().skip(1).any(|a| {
            a.to_str()
                .is_some_and(|a| a == flag || a.starts_with(&with_value))
        })
    };
    let mut fallbacks = Vec::new();
    for (flag, ours, theirs) in ENV_FALLBACKS {
        let ours_set = env(ours).is_some_and(|v| !v.is_empty());
        if ours_set || given(flag) {
            continue;
        }
        if let Some(value) = env(theirs).filter(|v| !v.is_empty()) {
            fallbacks.push(OsString::from(format!("{flag}={value}")));
        }
    }
    let at = out.len().min(1);
    out.splice(at..at, fallbacks);
    out
}

/// `-ap X`, `-ap=X` → `--autoscaling-policy X`, `--autoscaling-policy=X`; anything else as is.
fn rewrite_short(arg: OsString) -> OsString {
    let Some(text) = arg.to_str() else {
        return arg;
    };
    for (short, long) in MULTI_LETTER_SHORTS {
        if text == *short {
            return OsString::from(*long);
        }
        if let Some(value) = text.strip_prefix(short).and_then(|r| r.strip_prefix('=')) {
            return OsString::from(format!("{long}={value}"));
        }
    }
    arg
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Vec<String> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let argv = args.iter().map(OsString::from).collect();
        stratos_argv(argv, &|k| env.get(k).cloned())
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn multi_letter_short_options_become_long_ones() {
        assert_eq!(
            run(
                &[
                    "alto",
                    "subscribe-cartridge",
                    "php",
                    "shop",
                    "-ap",
                    "economy",
                    "-dp=dp1"
                ],
                &[]
            ),
            [
                "alto",
                "subscribe-cartridge",
                "php",
                "shop",
                "--autoscaling-policy",
                "economy",
                "--deployment-policy=dp1"
            ]
        );
        // Look-alikes stay as they are: -a, -apx, and anything after `--`.
        assert_eq!(
            run(&["alto", "-a", "x", "-apx", "--", "-ap"], &[]),
            ["alto", "-a", "x", "-apx", "--", "-ap"]
        );
    }

    #[test]
    fn stratos_variables_are_fallbacks_after_ours_and_the_options() {
        let stratos = [
            ("STRATOS_URL", "http://s:1"),
            ("STRATOS_USERNAME", "boss@acme"),
            ("STRATOS_PASSWORD", "pw"),
        ];
        assert_eq!(
            run(&["alto", "list-cartridges"], &stratos),
            [
                "alto",
                "--url=http://s:1",
                "--user=boss@acme",
                "--password=pw",
                "list-cartridges"
            ]
        );
        // ALTO_* set (clap reads it itself): the Stratos variable is not used.
        let mut both = stratos.to_vec();
        both.push(("ALTO_URL", "http://a:2"));
        both.push(("ALTO_PASSWORD", "mine"));
        assert_eq!(
            run(&["alto", "list-cartridges"], &both),
            ["alto", "--user=boss@acme", "list-cartridges"]
        );
        // An option on the command line wins over both.
        assert_eq!(
            run(
                &[
                    "alto",
                    "list-cartridges",
                    "--user",
                    "admin",
                    "--url=http://o:3"
                ],
                &stratos
            ),
            [
                "alto",
                "--password=pw",
                "list-cartridges",
                "--user",
                "admin",
                "--url=http://o:3"
            ]
        );
        // Empty counts as unset.
        assert_eq!(
            run(&["alto", "list-cartridges"], &[("STRATOS_URL", "")]),
            ["alto", "list-cartridges"]
        );
        assert!(
            run(&[], &stratos).len() == 3,
            "no program name: still no panic"
        );
    }
}
