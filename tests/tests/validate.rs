//! `alto validate`: exit codes and `FILE:LINE:COL: message` lines.

mod common;

use common::*;

fn validate(path: &std::path::Path) -> (i32, String) {
    let (code, stdout, _) = alto_validate(path);
    (code.unwrap_or(-1), stdout)
}

#[test]
fn shipped_conf_is_valid() {
    let (code, stdout) = validate(&repo_root().join("conf"));
    assert_eq!(code, 0, "conf/ must validate cleanly:\n{stdout}");
}

#[test]
fn problems_are_reported_with_positions_and_exit_1() {
    let dir = repo_root().join("tests/fixtures/invalid");
    let (code, stdout) = validate(&dir);
    assert_eq!(code, 1, "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    // Unknown partition (line 5) and min > max (line 8) in the deployment policy.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("bad-deployment.xml:5:") && l.contains("nowhere")),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("bad-deployment.xml:") && l.contains("inverted")),
        "{stdout}"
    );
    // The truncated cartridge is malformed XML; its problem names the file and a position.
    assert!(
        lines.iter().any(|l| l.contains("truncated-cartridge.xml:")),
        "{stdout}"
    );
    for line in lines {
        let mut parts = line.splitn(4, ':');
        let (file, l, c) = (parts.next(), parts.next(), parts.next());
        assert!(
            file.is_some_and(|f| f.ends_with(".xml")),
            "not FILE:LINE:COL: {line}"
        );
        assert!(
            l.and_then(|l| l.parse::<u32>().ok()).is_some(),
            "no line number: {line}"
        );
        assert!(
            c.and_then(|c| c.parse::<u32>().ok()).is_some(),
            "no column: {line}"
        );
    }
}

#[test]
fn single_file_and_missing_path() {
    let (code, stdout) = validate(&repo_root().join("tests/fixtures/cartridge-e2e.xml"));
    assert_eq!(code, 0, "{stdout}");
    let (code, _) = validate(&repo_root().join("tests/fixtures/does-not-exist.xml"));
    assert_eq!(code, 1);
}

#[test]
fn each_problem_once_and_the_summary_on_a_line_of_its_own() {
    let (_, stdout, stderr) = alto_validate(&repo_root().join("tests/fixtures/invalid"));
    let lines: Vec<&str> = stdout.lines().collect();
    let unique: std::collections::BTreeSet<&str> = lines.iter().copied().collect();
    assert_eq!(
        unique.len(),
        lines.len(),
        "a problem printed twice:\n{stdout}"
    );
    // Problems on stdout, one per line; the count alone on stderr's last line.
    assert!(stdout.ends_with('\n'), "{stdout:?}");
    assert_eq!(
        stderr.lines().last(),
        Some(format!("{} problem(s)", lines.len()).as_str()),
        "{stderr:?}"
    );
}
