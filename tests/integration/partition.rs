//! A member cut off from its peers while its clients still reach it: the
//! consistency inspection finds the key-count spread that writes then make, as
//! etcdctl asked of each member shows it.
//!
//! The cut needs a network of its own: a network namespace made for the test
//! (veth pair, 10.231.7.0/30), one member inside it, and iptables in that
//! namespace refusing only the peer ports, so the monitor and etcdctl outside
//! still reach its client port. Needs root (CAP_NET_ADMIN), as `.ci/run` has.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::checks::{etcdctl_count, inspect, result};
use crate::harness::{wait_for, FAST_ELECTIONS};
use crate::operator::{
    crds_applied, etcd_cluster, etcd_inspection, wait_inspection, KubeApi, Replica,
};
use crate::process::KillOnDrop;

const HOST_IP: &str = "10.231.7.1";
const NS_IP: &str = "10.231.7.2";

/// A network namespace joined to this one by a veth pair; removed on drop.
struct Netns {
    name: String,
    host_if: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("ip (iproute2) runs");
    assert!(
        out.status.success(),
        "ip {args:?}: {} (the partition test needs root: CAP_NET_ADMIN)",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Netns {
    fn create() -> Netns {
        let id = std::process::id() % 100_000;
        let netns = Netns {
            name: format!("em-part-{id}"),
            host_if: format!("emh{id}"),
        };
        let ns_if = format!("emn{id}");
        // A previous run's leftovers hold the same addresses.
        for stale in list_links().into_iter().filter(|l| l.starts_with("emh")) {
            let _ = Command::new("ip").args(["link", "del", &stale]).output();
        }
        ip(&["netns", "add", &netns.name]);
        ip(&[
            "link",
            "add",
            &netns.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &ns_if,
        ]);
        ip(&["link", "set", &ns_if, "netns", &netns.name]);
        ip(&[
            "addr",
            "add",
            &format!("{HOST_IP}/30"),
            "dev",
            &netns.host_if,
        ]);
        ip(&["link", "set", &netns.host_if, "up"]);
        netns.run(&["ip", "addr", "add", &format!("{NS_IP}/30"), "dev", &ns_if]);
        netns.run(&["ip", "link", "set", &ns_if, "up"]);
        netns.run(&["ip", "link", "set", "lo", "up"]);
        netns
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    fn run(&self, args: &[&str]) {
        let out = self.command(args[0]).args(&args[1..]).output().unwrap();
        assert!(
            out.status.success(),
            "in {}: {args:?}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

fn list_links() -> Vec<String> {
    let out = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or("").to_string())
        .collect()
}

/// One etcd member process; killed on drop.
struct Member {
    name: String,
    client_url: String,
    _child: KillOnDrop,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    etcd_monitor::localetcd::free_port().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cut_off_from_its_peers_shows_a_key_count_spread_as_etcdctl_does() {
    let netns = Netns::create();
    let etcd = etcd_monitor::localetcd::find_etcd_binary().expect("etcd (ETCD_BIN)");
    // m0 and m1 here on the veth's address, m2 in the namespace.
    let places = [
        ("m0", HOST_IP, false),
        ("m1", HOST_IP, false),
        ("m2", NS_IP, true),
    ];
    let ports: Vec<(u16, u16)> = places.iter().map(|_| (free_port(), free_port())).collect();
    let initial: Vec<String> = places
        .iter()
        .zip(&ports)
        .map(|((name, addr, _), (peer, _))| format!("{name}=http://{addr}:{peer}"))
        .collect();
    let mut members = Vec::new();
    for ((name, addr, inside), (peer, client)) in places.iter().zip(&ports) {
        let dir = tempfile::tempdir().unwrap();
        let peer_url = format!("http://{addr}:{peer}");
        let client_url = format!("http://{addr}:{client}");
        let mut cmd = if *inside {
            netns.command(etcd.to_str().unwrap())
        } else {
            Command::new(&etcd)
        };
        cmd.arg(format!("--name={name}"))
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--initial-cluster={}", initial.join(",")))
            .arg("--initial-cluster-state=new")
            .arg("--initial-cluster-token=partition-test")
            .args(FAST_ELECTIONS)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("etcd.log")).unwrap());
        members.push(Member {
            name: name.to_string(),
            client_url,
            _child: KillOnDrop(cmd.spawn().expect("etcd starts")),
            _dir: dir,
        });
    }
    let urls: Vec<String> = members.iter().map(|m| m.client_url.clone()).collect();
    let all = format!("--endpoints={}", urls.join(","));
    let mut client = wait_for("the cluster answers", Duration::from_secs(30), || {
        let urls = urls.clone();
        async move {
            let mut c = etcd_client::Client::connect(urls, None)
                .await
                .map_err(|e| e.to_string())?;
            c.put("/spread/0", "v", None)
                .await
                .map_err(|e| e.to_string())?;
            Ok(c)
        }
    })
    .await;
    for i in 1..10 {
        client.put(format!("/spread/{i}"), "v", None).await.unwrap();
    }
    // The same inspection as an EtcdInspection, run by the operator every 10 s.
    let api = KubeApi::start().await;
    crds_applied(&api);
    api.apply(&etcd_cluster("split", &urls, &[]));
    api.apply(&etcd_inspection(
        "spread",
        serde_json::json!({"cluster": "split", "type": "consistency", "intervalSeconds": 10}),
    ));
    let _replica = Replica::start(&api, "replica-a", "4s");
    let consistency = || {
        let all = all.clone();
        tokio::task::spawn_blocking(move || inspect(&[&all, "--type", "consistency"]))
    };
    let no_spread = |what: &'static str| {
        let consistency = &consistency;
        async move {
            wait_for(what, Duration::from_secs(30), || async {
                let (code, outcome) = consistency().await.unwrap();
                if code == Some(0) {
                    Ok(())
                } else {
                    Err(outcome.to_string())
                }
            })
            .await
        }
    };
    // Whole: no spread once every member applied the writes.
    no_spread("no spread").await;

    // Everything between m2 and the others refused, both ways and on the
    // connections already open, but for m2's client port.
    let client_port = ports[2].1.to_string();
    for rule in [
        vec!["-A", "INPUT", "-i", "lo", "-j", "ACCEPT"],
        vec![
            "-A",
            "INPUT",
            "-p",
            "tcp",
            "--dport",
            &client_port,
            "-j",
            "ACCEPT",
        ],
        vec!["-A", "INPUT", "-j", "DROP"],
        vec!["-A", "OUTPUT", "-o", "lo", "-j", "ACCEPT"],
        vec![
            "-A",
            "OUTPUT",
            "-p",
            "tcp",
            "--sport",
            &client_port,
            "-j",
            "ACCEPT",
        ],
        vec!["-A", "OUTPUT", "-j", "DROP"],
    ] {
        let mut args = vec!["iptables"];
        args.extend(rule);
        netns.run(&args);
    }
    // Written through m0 and m1, which keep their quorum.
    // If m2 led, the others elect a leader first: a write is retried until
    // it is acknowledged.
    let majority = etcd_client::Client::connect(&urls[..2], None)
        .await
        .unwrap();
    for i in 10..30 {
        let key = format!("/spread/{i}");
        wait_for(&format!("{key} written"), Duration::from_secs(20), || {
            let mut c = majority.clone();
            let key = key.clone();
            async move {
                c.put(key, "v", None)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        })
        .await;
    }
    let (code, outcome) = consistency().await.unwrap();
    assert_eq!(code, Some(2), "FAIL: {outcome}");
    let own = |m: &Member| {
        let one = format!("--endpoints={}", m.client_url);
        etcdctl_count(&[&one, "--consistency=s", "", "--from-key"])
    };
    let counts: Vec<i64> = members.iter().map(own).collect();
    for (m, count) in members.iter().zip(&counts) {
        assert_eq!(
            result(&outcome, &m.name)["values"]["keys"],
            *count,
            "{}: {outcome}",
            m.name
        );
    }
    assert_eq!(counts[0], counts[1]);
    assert_eq!(
        counts[0] - counts[2],
        20,
        "m2 missed the 20 writes: {counts:?}"
    );
    let summary = outcome["summary"].as_str().unwrap();
    assert!(summary.contains("keys 20"), "{summary}");
    eprintln!("partitioned: {summary}");

    // The operator's run writes the same into the EtcdInspection's status.
    let status = wait_inspection(
        &api,
        "spread",
        "the EtcdInspection failing with the spread",
        Duration::from_secs(30),
        // A run before the cut may have caught a member a write behind.
        |s| s["passed"] == false && s["summary"].as_str().is_some_and(|t| t.contains("keys 20")),
    )
    .await;
    assert!(
        status["summary"].as_str().unwrap().contains("keys 20"),
        "{status}"
    );
    for (m, count) in members.iter().zip(&counts) {
        let r = status["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["subject"] == m.name.as_str())
            .unwrap_or_else(|| panic!("{} in {status}", m.name));
        assert_eq!(r["values"]["keys"], *count, "{status}");
    }

    // Healed: m2 catches up and the spread goes.
    netns.run(&["iptables", "-F"]);
    no_spread("no spread after healing").await;
    assert_eq!(own(&members[2]), counts[0]);
}
