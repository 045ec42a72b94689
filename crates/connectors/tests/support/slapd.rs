//! A throwaway OpenLDAP server for tests: `slapd` on free 127.0.0.1 ports (`ldap://`, which
//! also offers StartTLS, and `ldaps://`), configured from a generated `slapd.conf` in a
//! temporary directory, with a CA and a server certificate for 127.0.0.1 made by the `openssl`
//! CLI, loaded with `../ldap/data.ldif` by `slapadd`. Killed and removed on drop.
//!
//! Needs Debian's `slapd` and `ldap-utils`. Without them [`Slapd::start`] prints
//! "SKIPPED: slapd not installed" and returns `None`, unless `OXIDEX_TEST_REQUIRE_SERVICES=1`,
//! then it panics.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::io::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The directory's suffix.
pub(crate) const SUFFIX: &str = "dc=example,dc=org";
/// The service account with read access.
pub(crate) const READER_DN: &str = "cn=reader,dc=example,dc=org";
/// Its password.
pub(crate) const READER_PW: &str = "reader-secret";
/// The rootdn, for `ldapmodify`.
pub(crate) const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
const ADMIN_PW: &str = "admin-secret";

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";
const DATA: &str = include_str!("../ldap/data.ldif");
const AD_SCHEMA: &str = include_str!("../ldap/ad.schema");

/// A running slapd.
pub(crate) struct Slapd {
    /// The temporary directory with config, certificates, data and log.
    pub(crate) dir: PathBuf,
    /// Port of `ldap://` (plain and StartTLS).
    pub(crate) ldap_port: u16,
    /// Port of `ldaps://`.
    pub(crate) ldaps_port: u16,
    /// The CA that signed the server certificate (PEM file).
    pub(crate) ca: PathBuf,
    /// Another CA that signed nothing the server uses (PEM file).
    pub(crate) wrong_ca: PathBuf,
    /// A client certificate and key signed by [`Slapd::ca`].
    pub(crate) client_cert: PathBuf,
    /// The client key.
    pub(crate) client_key: PathBuf,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    run(
        Command::new("openssl").args(args).current_dir(dir),
        &format!("openssl {}", args.join(" ")),
    );
}

/// A CA (`{name}.pem`/`{name}.key`) in `dir`.
fn make_ca(dir: &Path, name: &str, subject: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-nodes",
            "-days",
            "2",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-subj",
            subject,
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A leaf certificate `{name}.pem`/`{name}.key` signed by `ca.pem`.
fn make_leaf(dir: &Path, name: &str, subject: &str, san: &str, usage: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-nodes",
            "-days",
            "2",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-subj",
            subject,
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            san,
            "-addext",
            usage,
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

fn temp_dir() -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "oxidex-slapd-{}-{n}-{}",
        std::process::id(),
        free_port()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).unwrap_or_else(|e| panic!("mkdir {dir:?}: {e}"));
    dir
}

/// Whether slapd can be used; prints why not (or panics when services are required).
pub(crate) fn available() -> bool {
    let installed = Path::new(SLAPD).exists()
        && Path::new(SLAPADD).exists()
        && Command::new("ldapmodify")
            .arg("-VV")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
    if installed {
        return true;
    }
    if std::env::var("OXIDEX_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("slapd/ldap-utils not installed but OXIDEX_TEST_REQUIRE_SERVICES=1");
    }
    eprintln!(
        "\n==============================================================\n\
         SKIPPED: slapd not installed (apt-get install slapd ldap-utils)\n\
         ==============================================================\n"
    );
    false
}

impl Slapd {
    /// Starts a server with the test directory, or `None` (after a loud message) when slapd
    /// is not installed.
    pub(crate) fn start() -> Option<Self> {
        if !available() {
            return None;
        }
        let dir = temp_dir();
        make_ca(&dir, "ca", "/CN=oxidex LDAP test CA");
        make_ca(&dir, "wrong-ca", "/CN=some other CA");
        make_leaf(
            &dir,
            "server",
            "/CN=127.0.0.1",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "extendedKeyUsage=serverAuth",
        );
        make_leaf(
            &dir,
            "client",
            "/CN=oxidex",
            "subjectAltName=DNS:oxidex",
            "extendedKeyUsage=clientAuth",
        );
        std::fs::write(dir.join("ad.schema"), AD_SCHEMA).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("data.ldif"), DATA).unwrap_or_else(|e| panic!("{e}"));
        let d = dir.display();
        let conf = format!(
            "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
include {d}/ad.schema
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile {d}/ca.pem
TLSCertificateFile {d}/server.pem
TLSCertificateKeyFile {d}/server.key
TLSVerifyClient never

database mdb
maxsize 67108864
suffix \"{SUFFIX}\"
rootdn \"{ADMIN_DN}\"
rootpw {ADMIN_PW}
directory {d}/data
access to attrs=userPassword
  by anonymous auth
  by * none
access to *
  by dn.exact=\"{READER_DN}\" read
  by self read
  by * none
"
        );
        std::fs::write(dir.join("slapd.conf"), conf).unwrap_or_else(|e| panic!("{e}"));
        run(
            Command::new(SLAPADD)
                .arg("-f")
                .arg(dir.join("slapd.conf"))
                .arg("-l")
                .arg(dir.join("data.ldif")),
            "slapadd",
        );
        let mut server = Self {
            ca: dir.join("ca.pem"),
            wrong_ca: dir.join("wrong-ca.pem"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
            dir,
            ldap_port: 0,
            ldaps_port: 0,
            child: None,
        };
        server.spawn();
        Some(server)
    }

    fn spawn(&mut self) {
        // Ports can be taken between probing and binding; retry with new ones.
        for _ in 0..5 {
            let (ldap_port, ldaps_port) = (free_port(), free_port());
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join("slapd.log"))
                .unwrap_or_else(|e| panic!("slapd.log: {e}"));
            // -d stats: stay in the foreground and log connections and operations.
            let mut child = Command::new(SLAPD)
                .arg("-f")
                .arg(self.dir.join("slapd.conf"))
                .arg("-h")
                .arg(format!(
                    "ldap://127.0.0.1:{ldap_port}/ ldaps://127.0.0.1:{ldaps_port}/"
                ))
                .args(["-d", "stats"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start slapd: {e}"));
            for _ in 0..100 {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                let up = |p| {
                    TcpStream::connect_timeout(&([127, 0, 0, 1], p).into(), Duration::from_secs(1))
                        .is_ok()
                };
                if up(ldap_port) && up(ldaps_port) {
                    self.ldap_port = ldap_port;
                    self.ldaps_port = ldaps_port;
                    self.child = Some(child);
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("slapd did not start; log:\n{}", self.log());
    }

    /// `127.0.0.1:<ldap port>`.
    pub(crate) fn ldap_host(&self) -> String {
        format!("127.0.0.1:{}", self.ldap_port)
    }

    /// `127.0.0.1:<ldaps port>`.
    pub(crate) fn ldaps_host(&self) -> String {
        format!("127.0.0.1:{}", self.ldaps_port)
    }

    /// What slapd logged so far (`-d stats`: one line per connection and operation).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("slapd.log")).unwrap_or_default()
    }

    /// How many connections slapd accepted so far.
    pub(crate) fn connections(&self) -> usize {
        self.log().matches(" ACCEPT from ").count()
    }

    /// Applies `ldif` (ldapmodify format) as the rootdn.
    pub(crate) fn modify(&self, ldif: &str) {
        let mut child = Command::new("ldapmodify")
            .args(["-x", "-H", &format!("ldap://{}", self.ldap_host())])
            .args(["-D", ADMIN_DN, "-w", ADMIN_PW])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("ldapmodify: {e}"));
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(ldif.as_bytes())
                .unwrap_or_else(|e| panic!("ldapmodify stdin: {e}"));
        }
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("ldapmodify: {e}"));
        assert!(
            out.status.success(),
            "ldapmodify failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the server (its ports then refuse connections).
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
