//! The committed Thrift code (src/thrift_receiver/databridge.rs) is what the IDL gives:
//! regenerate it with Debian's thrift-compiler and compare. `scripts/test.sh` installs the
//! compiler; without it this test fails, saying so.

use std::path::Path;
use std::process::Command;

#[test]
fn the_generated_databridge_code_is_the_idls() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("alto-thrift-gen-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("temp dir");
    let run = Command::new("thrift")
        .args(["--gen", "rs", "-out"])
        .arg(&out)
        .arg(root.join("thrift/databridge.thrift"))
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run the thrift compiler ({e}): apt-get install thrift-compiler")
        });
    assert!(
        run.status.success(),
        "thrift --gen rs failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let fresh = std::fs::read_to_string(out.join("databridge.rs")).expect("generated file");
    let committed = std::fs::read_to_string(root.join("src/thrift_receiver/databridge.rs"))
        .expect("committed file");
    let _ = std::fs::remove_dir_all(&out);
    assert!(
        fresh == committed,
        "src/thrift_receiver/databridge.rs differs from what thrift/databridge.thrift gives: \
         regenerate it (the command is in the IDL's header)"
    );
}
