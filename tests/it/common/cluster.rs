//! A throwaway Postgres cluster of the test's own, made with Debian's binaries (initdb,
//! pg_ctl, pg_basebackup under /usr/lib/postgresql/N/bin) in a temporary directory and
//! served on a random port: a test may stop and start it, or stream a replica from it,
//! without touching the shared server. Run as the `postgres` user when the tests run as
//! root (Postgres refuses to run as root). Stopped and removed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Cluster {
    dir: tempfile::TempDir,
    pub port: u16,
}

/// A Postgres program: from `PG_BINDIR`, else from the newest /usr/lib/postgresql/N/bin
/// (Debian's `postgresql` package, which `.ci/run` installs).
fn bin(name: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BINDIR") {
        return Path::new(&dir).join(name);
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .expect("Debian's Postgres binaries under /usr/lib/postgresql (or set PG_BINDIR)")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .max()
        .expect("a version under /usr/lib/postgresql");
    Path::new("/usr/lib/postgresql")
        .join(newest.to_string())
        .join("bin")
        .join(name)
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The uid and gid of the `postgres` user.
fn postgres_ids() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a postgres user (Debian's postgresql package makes one)")
    };
    (id("-u"), id("-g"))
}

/// A Postgres program, as the `postgres` user when we are root.
fn pg(program: &str) -> Command {
    if running_as_root() {
        let (uid, gid) = postgres_ids();
        let mut c = Command::new("setpriv");
        c.args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--clear-groups",
            "--",
        ])
        .arg(bin(program));
        c
    } else {
        Command::new(bin(program))
    }
}

fn check(what: &str, out: std::io::Result<Output>) {
    let out = out.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    fn empty() -> Cluster {
        let dir = tempfile::Builder::new().prefix("gh-pg-").tempdir().unwrap();
        if running_as_root() {
            let (uid, gid) = postgres_ids();
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        Cluster {
            dir,
            port: free_port(),
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's log (every statement is logged, prefixed with the client's
    /// `application_name`).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// A new cluster (trust authentication, replication allowed from 127.0.0.1), started.
    pub fn start_new() -> Cluster {
        let cluster = Cluster::empty();
        check(
            "initdb",
            pg("initdb")
                .args(["-U", "postgres", "--auth=trust", "-N", "-E", "UTF8"])
                .arg("-D")
                .arg(cluster.data())
                .output(),
        );
        cluster.start();
        cluster
    }

    /// A streaming replica of `primary` (`pg_basebackup -R`), started on its own port;
    /// it applies changes `apply_delay` after the primary made them.
    pub fn replica_of(primary: &Cluster, apply_delay: &str) -> Cluster {
        let cluster = Cluster::empty();
        check(
            "pg_basebackup",
            pg("pg_basebackup")
                .args(["-h", "127.0.0.1", "-p", &primary.port.to_string()])
                .args(["-U", "postgres", "-R", "-X", "stream", "-c", "fast"])
                .arg("-D")
                .arg(cluster.data())
                .output(),
        );
        let conf = cluster.data().join("postgresql.auto.conf");
        let mut auto = std::fs::read_to_string(&conf).unwrap();
        auto.push_str(&format!("recovery_min_apply_delay = '{apply_delay}'\n"));
        std::fs::write(&conf, auto).unwrap();
        cluster.start();
        cluster
    }

    pub fn start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c fsync=off -c log_statement=all -c log_line_prefix='%a|'",
            self.port,
            self.dir.path().display()
        );
        check(
            "pg_ctl start",
            pg("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-o", &options, "-w", "-t", "30", "-l"])
                .arg(self.log_path())
                .arg("start")
                .output(),
        );
    }

    /// Stop the server (fast: connections are ended, as in a restart of Postgres).
    pub fn stop(&self) {
        check(
            "pg_ctl stop",
            pg("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-m", "fast", "-w", "stop"])
                .output(),
        );
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = pg("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}
