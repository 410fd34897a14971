//! Test certificates made with openssl: shared by the test binaries that need TLS
//! (the integration tests and the notifiers' tests).
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use etcd_monitor::localetcd::LocalTls;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and one certificate for 127.0.0.1, usable as server and client.
pub fn make_certs(dir: &Path) -> LocalTls {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=etcd-monitor test CA",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "member.key",
        "-out",
        "member.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "member.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "member.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    LocalTls {
        ca_file: dir.join("ca.crt"),
        cert_file: dir.join("member.crt"),
        key_file: dir.join("member.key"),
    }
}

/// The client flags (etcdctl's) that make a command trust the test CA and present
/// the test certificate.
pub fn client_flags(tls: &LocalTls) -> [&std::ffi::OsStr; 6] {
    [
        "--cacert".as_ref(),
        tls.ca_file.as_os_str(),
        "--cert".as_ref(),
        tls.cert_file.as_os_str(),
        "--key".as_ref(),
        tls.key_file.as_os_str(),
    ]
}
