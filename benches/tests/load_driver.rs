//! Keeps the load driver (`oxidex-load`, `oxidex_benches::load`) working without timing
//! anything: its parsers and arithmetic on fixed inputs (oxidex's and Dex's login and
//! approval pages, garbage), and, when `OXIDEX_BIN` names an `oxidex` binary, every scenario
//! for a moment against a real `oxidex serve` with no errors allowed. (`oxidex` is another
//! package, so cargo cannot build it for this test; `scripts/performance.sh` sets
//! `OXIDEX_BIN` to its release build and runs this before measuring.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::time::Duration;

use oxidex_benches::load::html::{Field, forms, links, snippet, unescape};
use oxidex_benches::load::stats::Latencies;
use oxidex_benches::load::{CookieJar, Options, Pkce, Scenario, parse_duration, run};

/// oxidex's password page, as `password.html` renders it.
const OXIDEX_LOGIN: &str = r#"<!DOCTYPE html><html lang="en"><head><title>Log in</title>
<style>form { display: block } /* <form action="nope"> */</style></head><body>
<h1>Log in to http:&#x2f;&#x2f;127.0.0.1:5556&#x2f;dex</h1>
<form method="post" action="&#x2f;dex&#x2f;auth&#x2f;local&#x2f;login?state=abc&amp;back=">
  <input type="hidden" name="csrf_token" value="t0k&#x3d;n">
  <div class="field"><label for="login">Email Address</label>
  <input id="login" name="login" type="text" value="" autocomplete="username" required autofocus></div>
  <div class="field"><label for="password">Password</label>
  <input id="password" name="password" type="password" required></div>
  <button class="button button-primary" type="submit">Log in</button>
</form>
<p class="secondary-link"><a href="&#x2f;dex&#x2f;auth?client_id=x&amp;back=1">Select another login method.</a></p>
</body></html>"#;

/// Dex's approval page (`web/templates/approval.html`): one form per choice, no action,
/// the choice in a hidden input.
const DEX_APPROVAL: &str = r#"<div class="theme-panel">
  <h2 class="theme-heading">Grant Access</h2>
  <div>
    <form method="post">
      <input type="hidden" name="req" value="abc123"/>
      <input type="hidden" name="approval" value="approve">
      <button type="submit" class="dex-btn theme-btn--success"><span>Grant Access</span></button>
    </form>
  </div>
  <div>
    <form method="post">
      <input type="hidden" name="req" value="abc123"/>
      <input type="hidden" name="approval" value="rejected">
      <button type="submit" class="dex-btn theme-btn-provider"><span>Cancel</span></button>
    </form>
  </div>
</div>"#;

/// Dex's password page (`web/templates/password.html`), unquoted and odd attributes included.
const DEX_LOGIN: &str = r#"<form method=POST action='/dex/auth/local/login?back=&amp;state=xyz'>
  <input tabindex="1" required id="login" name="login" type="text" class="theme-form-input" placeholder="email address"  autofocus />
  <input tabindex="2" required id="password" name="password" type="password" class="theme-form-input" placeholder="password" />
  <button tabindex="3" id="submit-login" type="submit" class="dex-btn theme-btn--primary">Login</button>
</form>"#;

#[test]
fn reads_oxidex_login_form() {
    let found = forms(OXIDEX_LOGIN);
    assert_eq!(found.len(), 1, "the form inside <style> is not a form");
    let form = &found[0];
    assert_eq!(
        form.action.as_deref(),
        Some("/dex/auth/local/login?state=abc&back=")
    );
    assert_eq!(form.method, "post");
    assert!(form.has_password());
    assert_eq!(form.login_field(), Some("login"));
    assert_eq!(form.password_field(), Some("password"));
    assert_eq!(
        form.hidden(),
        vec![("csrf_token".to_owned(), "t0k=n".to_owned())]
    );
    assert_eq!(
        links(OXIDEX_LOGIN),
        vec!["/dex/auth?client_id=x&back=1".to_owned()]
    );
}

#[test]
fn reads_dex_pages() {
    let login = forms(DEX_LOGIN);
    assert_eq!(login.len(), 1);
    assert_eq!(
        login[0].action.as_deref(),
        Some("/dex/auth/local/login?back=&state=xyz")
    );
    assert_eq!(login[0].method, "post");
    assert_eq!(login[0].login_field(), Some("login"));
    assert!(login[0].hidden().is_empty());

    let approval = forms(DEX_APPROVAL);
    assert_eq!(approval.len(), 2);
    assert_eq!(approval[0].action, None, "posts to the page's own URL");
    assert!(approval[0].has("approval", "approve"));
    assert!(!approval[1].has("approval", "approve"));
    assert!(approval[1].has_hidden("req"));
    assert!(!approval[0].has_password());
}

#[test]
fn reads_oxidex_approval_buttons() {
    let html = r#"<form method="post" action="/dex/approval">
      <input type="hidden" name="req" value="r">
      <input type="hidden" name="hmac" value="h">
      <button class="button" type="submit" name="approval" value="rejected">Cancel</button>
      <button class="button" type="submit" name="approval" value="approve">Grant</button>
    </form>"#;
    let form = &forms(html)[0];
    assert!(form.has("approval", "approve"));
    assert_eq!(form.hidden().len(), 2, "buttons are not hidden inputs");
    assert_eq!(
        form.fields[3],
        Field {
            tag: "button".into(),
            kind: "submit".into(),
            name: "approval".into(),
            value: "approve".into(),
        }
    );
}

#[test]
fn garbage_does_not_panic() {
    let inputs = [
        "",
        "<",
        "<<<>>>",
        "<form",
        "<form action=\"",
        "<form action='x",
        "<input name=\"a\" value=\"&#xFFFFFFFF;&#99999999999;&;&#;&#x;\">",
        "<!-- never closed",
        "<script>if (a < b) { document.write('<form>') }",
        "<form><input type=hidden name=a value=1 <input name=b>",
        "\u{0}\u{ffff}<\u{e9}t\u{e9} a=\u{e9}>",
        "<a href>x</a><a href=>y</a>",
    ];
    for input in inputs {
        let _ = forms(input);
        let _ = links(input);
        let _ = snippet(input);
        let _ = unescape(input);
    }
    assert_eq!(
        forms("<form><input type=hidden name=a value=1></form>")[0].hidden(),
        vec![("a".to_owned(), "1".to_owned())]
    );
    assert_eq!(unescape("a&amp;b&#47;&#x2F;&bogus;&"), "a&b//&bogus;&");
}

#[test]
fn snippet_is_short_and_single_line() {
    let long = "word\n".repeat(1000);
    let s = snippet(&long);
    assert!(!s.contains('\n'));
    assert!(s.chars().count() <= 201);
}

#[test]
fn cookie_jar() {
    let mut jar = CookieJar::default();
    assert_eq!(jar.header(), None);
    jar.store_one("csrf=abc; Path=/dex; HttpOnly; SameSite=Lax");
    jar.store_one("session=\"q\"; Max-Age=600");
    jar.store_one("csrf=def; Path=/dex");
    jar.store_one("garbage");
    jar.store_one("=nameless");
    assert_eq!(jar.header().as_deref(), Some("session=q; csrf=def"));
    jar.store_one("session=; Max-Age=0");
    assert_eq!(jar.header().as_deref(), Some("csrf=def"));
}

#[test]
fn pkce_s256_matches_rfc_7636_appendix_b() {
    let pkce = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
    assert_eq!(
        pkce.challenge,
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    let fresh = Pkce::new().unwrap();
    assert_eq!(fresh.verifier.len(), 43);
    assert_ne!(fresh.verifier, Pkce::new().unwrap().verifier);
}

#[test]
fn percentiles_by_nearest_rank() {
    let mut l = Latencies::default();
    assert_eq!(l.percentile(50.0), None);
    for ms in (1..=100).rev() {
        l.record(Duration::from_millis(ms));
    }
    let ms = |d: Option<Duration>| d.unwrap().as_millis();
    assert_eq!(ms(l.percentile(50.0)), 50);
    assert_eq!(ms(l.percentile(90.0)), 90);
    assert_eq!(ms(l.percentile(99.0)), 99);
    assert_eq!(ms(l.percentile(100.0)), 100);
    assert_eq!(ms(l.percentile(0.1)), 1);
    assert_eq!(ms(l.max()), 100);
    assert_eq!(l.mean().unwrap().as_micros(), 50_500);

    let mut one = Latencies::default();
    one.record(Duration::from_micros(7));
    let mut other = Latencies::default();
    other.merge(one);
    assert_eq!(other.len(), 1);
    assert_eq!(other.percentile(99.0), Some(Duration::from_micros(7)));
}

#[test]
fn durations_and_scenarios() {
    assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
    assert!(parse_duration("soon").is_err());
    assert!(parse_duration("-1s").is_err());
    for s in Scenario::ALL {
        assert_eq!(s.name().parse::<Scenario>(), Ok(s));
    }
    assert!("nope".parse::<Scenario>().is_err());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An `oxidex serve` child, killed when dropped.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every scenario for a moment against `$OXIDEX_BIN serve`, with the approval screen shown
/// (the driver must get through it) and no errors allowed.
#[tokio::test(flavor = "multi_thread")]
async fn every_scenario_against_oxidex() {
    let Some(bin) = std::env::var_os("OXIDEX_BIN") else {
        eprintln!("SKIPPED: set OXIDEX_BIN to an oxidex binary to drive it");
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (port, telemetry) = (free_port(), free_port());
    let config = format!(
        r#"issuer: http://127.0.0.1:{port}/dex
storage:
  type: sqlite3
  config:
    file: {dir}/oxidex.db
web:
  http: 127.0.0.1:{port}
telemetry:
  http: 127.0.0.1:{telemetry}
logger:
  level: warn
oauth2:
  grantTypes: [authorization_code, refresh_token, password, client_credentials]
  responseTypes: [code]
  passwordConnector: local
staticClients:
- id: example-app
  name: Example App
  secret: ZXhhbXBsZS1hcHAtc2VjcmV0
  redirectURIs: [http://127.0.0.1:5555/callback]
enablePasswordDB: true
staticPasswords:
- email: admin@example.com
  hash: "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W"
  username: admin
  userID: 08a8684b-db88-4b73-90a9-3cd1661f5466
"#,
        dir = dir.path().display()
    );
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config).unwrap();
    let _server = Server(
        std::process::Command::new(bin)
            .arg("serve")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ready = format!("http://127.0.0.1:{telemetry}/healthz/ready");
    let mut up = false;
    for _ in 0..300 {
        if let Ok(r) = reqwest::get(&ready).await
            && r.status() == 200
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "oxidex did not become ready");

    let options = Options {
        issuer: format!("http://127.0.0.1:{port}/dex"),
        concurrency: 2,
        duration: Duration::from_millis(700),
        warmup: Duration::ZERO,
        ..Options::default()
    };
    for scenario in Scenario::ALL {
        let report = run(scenario, &options).await.unwrap();
        assert!(report.ops > 0, "{report}");
        assert_eq!(report.errors, 0, "{report}");
        assert!(report.first_error.is_none(), "{report}");
        assert!(report.p50 <= report.p99 && report.p99 <= report.max);
        assert_eq!(report.to_json()["scenario"], scenario.name());
    }

    // Wrong credentials are errors with a message, not a panic or a success.
    let wrong = Options {
        password: "wrong".into(),
        ..options.clone()
    };
    let report = run(Scenario::AuthCode, &wrong).await.unwrap();
    assert_eq!(report.ops, 0, "{report}");
    assert!(
        report
            .first_error
            .as_deref()
            .is_some_and(|e| e.contains("credentials rejected")),
        "{report}"
    );
}
