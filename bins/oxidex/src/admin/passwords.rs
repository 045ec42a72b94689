//! `oxidex admin passwords ...`: `ListPasswords`, `CreatePassword`, `UpdatePassword`,
//! `DeletePassword`, `VerifyPassword`.
//!
//! A password is read from stdin only (never from the command line, where the process list
//! shows it), never echoed, and hashed here with bcrypt (cost 10, Dex's minimum) on a blocking
//! thread; the server receives only the hash, except for `verify`, whose whole point is to
//! send it.

use std::io::{IsTerminal as _, Read as _};

use clap::{ArgGroup, Args, Subcommand};
use serde_json::json;

use oxidex_issuer_http::grpc::proto::{
    CreatePasswordReq, DeletePasswordReq, ListPasswordReq, Password, UpdatePasswordReq,
    VerifyPasswordReq,
};

use super::output::{quoted, table};
use super::{Api, Failure, Out, status_failure};

/// The bcrypt cost of hashes made here: Dex's minimum (and Go's default).
const BCRYPT_COST: u32 = 10;

/// bcrypt reads at most 72 bytes; Go's bcrypt (and so Dex) refuses longer passwords.
const MAX_PASSWORD_BYTES: usize = 72;

#[derive(Debug, Subcommand)]
pub(super) enum PasswordsCommand {
    /// Every local user (hashes are never printed).
    List,
    /// Add a local user.
    Add {
        /// The e-mail address, which is the login and the key.
        #[arg(long)]
        email: String,
        /// The display name.
        #[arg(long)]
        username: Option<String>,
        /// The stable user id (becomes part of the `sub` claim).
        #[arg(long)]
        user_id: String,
        #[command(flatten)]
        secret: NewSecret,
    },
    /// Change a local user's password and/or username.
    #[command(group(ArgGroup::new("change").required(true).multiple(true)))]
    Update {
        /// The e-mail address.
        email: String,
        /// The new display name.
        #[arg(long, group = "change")]
        username: Option<String>,
        /// A new bcrypt hash (cost 10 to 16).
        #[arg(
            long,
            value_name = "BCRYPT",
            group = "change",
            conflicts_with = "password_stdin"
        )]
        hash: Option<String>,
        /// Read the new password from stdin (one line) and hash it here.
        #[arg(long, group = "change")]
        password_stdin: bool,
    },
    /// Remove a local user.
    Delete {
        /// The e-mail address.
        email: String,
    },
    /// Check a password against a local user's: exit 0 when it matches, 1 when not.
    Verify {
        /// The e-mail address.
        email: String,
        /// Read the password to check from stdin (one line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

/// The new password of `add`: a ready hash, or a password read from stdin.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(super) struct NewSecret {
    /// The bcrypt hash (cost 10 to 16), e.g. from `htpasswd -bnBC 10 "" PASSWORD`.
    #[arg(long, value_name = "BCRYPT")]
    hash: Option<String>,
    /// Read the password from stdin (one line) and hash it here.
    #[arg(long)]
    password_stdin: bool,
}

/// A command with its password already read and hashed.
pub(super) enum Prepared {
    List,
    Add(Password),
    Update(UpdatePasswordReq),
    Delete(String),
    Verify(VerifyPasswordReq),
}

/// Reads and hashes what the command needs from stdin, before anything is sent.
pub(super) async fn prepare(command: PasswordsCommand) -> Result<Prepared, Failure> {
    Ok(match command {
        PasswordsCommand::List => Prepared::List,
        PasswordsCommand::Add {
            email,
            username,
            user_id,
            secret,
        } => Prepared::Add(Password {
            email,
            hash: new_hash(secret.hash, secret.password_stdin)
                .await?
                .unwrap_or_default(),
            username: username.unwrap_or_default(),
            user_id,
        }),
        PasswordsCommand::Update {
            email,
            username,
            hash,
            password_stdin,
        } => Prepared::Update(UpdatePasswordReq {
            email,
            new_hash: new_hash(hash, password_stdin).await?.unwrap_or_default(),
            new_username: username.unwrap_or_default(),
        }),
        PasswordsCommand::Delete { email } => Prepared::Delete(email),
        PasswordsCommand::Verify { email, .. } => Prepared::Verify(VerifyPasswordReq {
            email,
            password: read_password().await?,
        }),
    })
}

pub(super) async fn run(api: &mut Api, command: Prepared, out: &Out) -> Result<(), Failure> {
    match command {
        Prepared::List => {
            let passwords = api
                .list_passwords(ListPasswordReq {})
                .await
                .map_err(|s| status_failure("list passwords", &s))?
                .into_inner()
                .passwords;
            // The hashes arrive (Dex sends them) but are dropped here, in every format.
            let listed: Vec<serde_json::Value> = passwords
                .iter()
                .map(|p| json!({ "email": p.email, "username": p.username, "user_id": p.user_id }))
                .collect();
            out.print(&json!({ "passwords": listed }), || {
                let rows: Vec<Vec<String>> = passwords
                    .iter()
                    .map(|p| vec![p.email.clone(), p.username.clone(), p.user_id.clone()])
                    .collect();
                table(&["EMAIL", "USERNAME", "USER ID"], &rows)
            });
            Ok(())
        }
        Prepared::Add(password) => {
            let email = password.email.clone();
            let response = api
                .create_password(CreatePasswordReq {
                    password: Some(password),
                })
                .await
                .map_err(|s| status_failure("add password", &s))?
                .into_inner();
            if response.already_exists {
                return Err(Failure::Failed(format!(
                    "password for {} already exists",
                    quoted(&email)
                )));
            }
            out.print(&json!({ "already_exists": false }), || {
                format!("password for {} added\n", quoted(&email))
            });
            Ok(())
        }
        Prepared::Update(request) => {
            let email = request.email.clone();
            let response = api
                .update_password(request)
                .await
                .map_err(|s| status_failure("update password", &s))?
                .into_inner();
            if response.not_found {
                return Err(not_found(&email));
            }
            out.print(&json!({ "not_found": false }), || {
                format!("password for {} updated\n", quoted(&email))
            });
            Ok(())
        }
        Prepared::Delete(email) => {
            let response = api
                .delete_password(DeletePasswordReq {
                    email: email.clone(),
                })
                .await
                .map_err(|s| status_failure("delete password", &s))?
                .into_inner();
            if response.not_found {
                return Err(not_found(&email));
            }
            out.print(&json!({ "not_found": false }), || {
                format!("password for {} deleted\n", quoted(&email))
            });
            Ok(())
        }
        Prepared::Verify(request) => {
            let email = request.email.clone();
            let response = api
                .verify_password(request)
                .await
                .map_err(|s| status_failure("verify password", &s))?
                .into_inner();
            if response.not_found {
                return Err(not_found(&email));
            }
            out.print(
                &json!({ "verified": response.verified, "not_found": false }),
                || {
                    if response.verified {
                        format!("password for {} verified\n", quoted(&email))
                    } else {
                        String::new()
                    }
                },
            );
            if response.verified {
                Ok(())
            } else {
                Err(Failure::Failed(format!(
                    "password for {} does not match",
                    quoted(&email)
                )))
            }
        }
    }
}

fn not_found(email: &str) -> Failure {
    Failure::Failed(format!("password for {} not found", quoted(email)))
}

/// The hash to send: `hash` as given (checked to look like bcrypt), or the password on stdin
/// hashed here; `None` when neither is asked for.
async fn new_hash(hash: Option<String>, from_stdin: bool) -> Result<Option<Vec<u8>>, Failure> {
    if let Some(hash) = hash {
        if hash.parse::<bcrypt::HashParts>().is_err() {
            return Err(Failure::Usage(
                "--hash: not a bcrypt hash (expected $2a$, $2b$ or $2y$ and a cost)".to_owned(),
            ));
        }
        return Ok(Some(hash.into_bytes()));
    }
    if !from_stdin {
        return Ok(None);
    }
    let password = read_password().await?;
    let hashed = tokio::task::spawn_blocking(move || {
        bcrypt::non_truncating_hash(password.as_bytes(), BCRYPT_COST)
    })
    .await
    .map_err(|_| Failure::Failed("hashing the password did not finish".to_owned()))?
    // bcrypt's errors name costs and lengths, never the password.
    .map_err(|e| Failure::Failed(format!("cannot hash the password: {e}")))?;
    Ok(Some(hashed.into_bytes()))
}

/// One password from stdin: the first line, without its line ending. A terminal is refused,
/// since it would show the password as it is typed.
async fn read_password() -> Result<String, Failure> {
    tokio::task::spawn_blocking(|| {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            return Err(Failure::Usage(
                "--password-stdin reads the password from a pipe, not a terminal (which would \
                 show it); e.g. `read -rs PW && printf '%s\\n' \"$PW\" | oxidex admin ...`"
                    .to_owned(),
            ));
        }
        let mut input = Vec::new();
        // A password is short: read a little more than bcrypt's limit, to notice longer input.
        stdin
            .lock()
            .take(64 * 1024)
            .read_to_end(&mut input)
            .map_err(|e| Failure::Usage(format!("--password-stdin: cannot read stdin: {e}")))?;
        password_from(input)
    })
    .await
    .map_err(|_| Failure::Failed("reading stdin did not finish".to_owned()))?
}

/// The first line of `input`, without `\n` or `\r\n`.
fn password_from(input: Vec<u8>) -> Result<String, Failure> {
    let text = String::from_utf8(input)
        .map_err(|_| Failure::Usage("--password-stdin: the password is not UTF-8".to_owned()))?;
    let line = text.split('\n').next().unwrap_or_default();
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.is_empty() {
        return Err(Failure::Usage(
            "--password-stdin: no password on stdin".to_owned(),
        ));
    }
    if line.len() > MAX_PASSWORD_BYTES {
        return Err(Failure::Usage(format!(
            "--password-stdin: the password is longer than bcrypt's {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(line.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_the_first_line() {
        assert_eq!(
            password_from(b"secret\n".to_vec()).ok().as_deref(),
            Some("secret")
        );
        assert_eq!(
            password_from(b"secret\r\nmore".to_vec()).ok().as_deref(),
            Some("secret")
        );
        assert_eq!(
            password_from(b"with space".to_vec()).ok().as_deref(),
            Some("with space")
        );
        assert!(matches!(
            password_from(b"\n".to_vec()),
            Err(Failure::Usage(_))
        ));
        assert!(matches!(
            password_from(vec![b'a'; 73]),
            Err(Failure::Usage(_))
        ));
        // Errors never contain the password.
        let Err(Failure::Usage(m)) = password_from(vec![b'z'; 100]) else {
            panic!("too long");
        };
        assert!(!m.contains("zzz"));
    }

    #[tokio::test]
    async fn hashes_are_checked_or_made_at_cost_10() {
        assert!(matches!(
            new_hash(Some("plain".into()), false).await,
            Err(Failure::Usage(_))
        ));
        let given = "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W";
        assert_eq!(
            new_hash(Some(given.into()), false).await.ok().flatten(),
            Some(given.as_bytes().to_vec())
        );
        assert!(matches!(new_hash(None, false).await, Ok(None)));
    }
}
