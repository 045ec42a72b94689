//! Files the configuration names (certificates, the database directory, templates) that do not
//! exist. Only a warning: the file may exist where the server will run (a mounted secret), and
//! `oxidex serve` stops when one is really missing.

use std::path::Path;

use super::error::{Issues, KeyPath};
use super::schema::{Config, Storage};

/// Warns about each file or directory `config` names for which `exists` is false. Relative
/// paths are resolved from the working directory, as Dex does.
pub(crate) fn check_files(config: &Config, exists: &dyn Fn(&Path) -> bool, issues: &mut Issues) {
    let at = |keys: &[&str]| keys.iter().fold(KeyPath::root(), |p, k| p.key(*k));
    let mut named: Vec<(KeyPath, &str, &str)> = Vec::new();
    if !config.web.https.is_empty() {
        named.push((at(&["web", "tlsCert"]), &config.web.tls_cert, "file"));
        named.push((at(&["web", "tlsKey"]), &config.web.tls_key, "file"));
    }
    named.push((at(&["grpc", "tlsCert"]), &config.grpc.tls_cert, "file"));
    named.push((at(&["grpc", "tlsKey"]), &config.grpc.tls_key, "file"));
    named.push((
        at(&["grpc", "tlsClientCA"]),
        &config.grpc.tls_client_ca,
        "file",
    ));
    named.push((at(&["frontend", "dir"]), &config.frontend.dir, "directory"));
    let database_dir;
    if let Storage::Sqlite3(sqlite) = &config.storage
        && sqlite.file != ":memory:"
    {
        database_dir = Path::new(&sqlite.file)
            .parent()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        named.push((
            at(&["storage", "config", "file"]),
            &database_dir,
            "directory",
        ));
    }
    match &config.storage {
        Storage::Postgres(db) | Storage::Mysql(db) => {
            for (key, file) in [
                ("caFile", &db.ssl.ca_file),
                ("certFile", &db.ssl.cert_file),
                ("keyFile", &db.ssl.key_file),
            ] {
                named.push((at(&["storage", "config", "ssl", key]), file, "file"));
            }
        }
        Storage::Etcd(etcd) => {
            for (key, file) in [
                ("caFile", &etcd.ssl.ca_file),
                ("certFile", &etcd.ssl.cert_file),
                ("keyFile", &etcd.ssl.key_file),
            ] {
                named.push((at(&["storage", "config", "ssl", key]), file, "file"));
            }
        }
        _ => {}
    }
    for (path, file, what) in named {
        if !file.is_empty() && !exists(Path::new(file)) {
            issues.warn(
                &path,
                format!(
                    "the {what} {file} does not exist here (relative paths are resolved from the \
                     directory oxidex is started in); `oxidex serve` needs it"
                ),
            );
        }
    }
}
