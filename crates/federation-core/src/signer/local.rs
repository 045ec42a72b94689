//! The local signer (Dex `signer.type: local`): keys generated here, kept in storage, rotated
//! on a schedule, and held in memory between rotations.
//!
//! * **One key set, one compare-and-swap.** Every replica sharing a store runs the same
//!   rotation check; new keys are generated outside the transaction and installed by
//!   [`Store::upsert_if`], which reruns the decision on the freshest key set. Of replicas racing
//!   to rotate exactly one writes; the others adopt its keys (Dex #976/#998).
//! * **The next key is published before it signs.** The key set carries a private `next_key`
//!   whose public half is in `/keys` for a whole rotation period before rotation promotes it, so
//!   a relying party that cached the key set (the Kubernetes API server does) never meets an
//!   unknown `kid`. Dex generates the new key at the moment it starts signing with it.
//! * **Retired keys stay published** for one ID-token lifetime after they stop signing.
//! * **No storage read per signature.** [`LocalSigner::tick`] reads storage only once the key
//!   set in memory is due for rotation; the host calls it periodically (Dex: every 30 s).

use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::keygen::{LocalKey, generate_jwk};
use super::{Signer, SigningAlgorithm, SigningKey};
use crate::clock::Clock;
use crate::model::{Jwk, SigningKeys, VerificationKey};
use crate::storage::Store;
use crate::{Error, Result};

/// Settings of the local signer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalSignerConfig {
    /// Algorithm of new keys (`signer.config.algorithm`); a change applies at the next rotation.
    pub algorithm: SigningAlgorithm,
    /// `signer.config.keysRotationPeriod` (or the older `expiry.signingKeys`); Dex's default 6h.
    pub rotation_period: Duration,
    /// `expiry.idTokens`: how long a retired key stays published.
    pub id_token_lifetime: Duration,
}

impl Default for LocalSignerConfig {
    fn default() -> Self {
        Self {
            algorithm: SigningAlgorithm::Rs256,
            rotation_period: Duration::hours(6),
            id_token_lifetime: Duration::hours(24),
        }
    }
}

/// What a rotation check did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationOutcome {
    /// The keys in memory were not due; storage was not read.
    NotDue,
    /// The keys were due and this process installed new ones.
    Rotated,
    /// The keys were due but another process had already rotated them; its keys were loaded.
    RotatedElsewhere,
}

/// Keys in memory between rotations.
struct Loaded {
    signing: Arc<dyn SigningKey>,
    validation: Vec<Jwk>,
    /// `validation` as the `/keys` document, serialized once.
    key_set_json: Arc<[u8]>,
    next_rotation: DateTime<Utc>,
}

/// The storage-backed, rotating signer.
pub struct LocalSigner {
    store: Store,
    clock: Arc<dyn Clock>,
    config: LocalSignerConfig,
    loaded: RwLock<Arc<Loaded>>,
}

impl std::fmt::Debug for LocalSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSigner")
            .field("config", &self.config)
            .field("next_rotation", &self.next_rotation())
            .finish_non_exhaustive()
    }
}

impl LocalSigner {
    /// Loads the stored key set, rotating first if it is missing or due (Dex's `Start` makes one
    /// synchronous rotation attempt).
    pub async fn open(
        store: Store,
        clock: Arc<dyn Clock>,
        config: LocalSignerConfig,
    ) -> Result<Self> {
        if config.rotation_period <= Duration::zero() {
            return Err(Error::Signing {
                message: "keysRotationPeriod must be positive".into(),
            });
        }
        let (_, loaded) = rotate(&store, clock.as_ref(), &config, None).await?;
        Ok(Self {
            store,
            clock,
            config,
            loaded: RwLock::new(Arc::new(loaded)),
        })
    }

    /// The periodic check: rotates (or adopts another replica's rotation) once the keys in
    /// memory are due; otherwise does nothing and touches no storage.
    pub async fn tick(&self) -> Result<RotationOutcome> {
        if self.clock.now() < self.next_rotation() {
            return Ok(RotationOutcome::NotDue);
        }
        self.rotate_with(None).await
    }

    /// Re-reads the stored key set and rotates if it is due, whatever the keys in memory say:
    /// for an operator who marked the stored keys as due (`oxidex keys rotate`), so every
    /// replica that checks joins the same single rotation.
    pub async fn check_stored(&self) -> Result<RotationOutcome> {
        self.rotate_with(None).await
    }

    /// Rotates now unless the stored keys were rotated at or after this call began. Several
    /// replicas forced at once produce exactly one new signing key.
    pub async fn force_rotation(&self) -> Result<RotationOutcome> {
        let requested_at = self.clock.now();
        self.rotate_with(Some(requested_at)).await
    }

    /// Re-reads the stored key set (after another replica rotated) without rotating.
    pub async fn reload(&self) -> Result<()> {
        let keys = self.store.get_keys().await?.value;
        self.install(load(&keys)?);
        Ok(())
    }

    /// When the keys in memory are due for rotation.
    pub fn next_rotation(&self) -> DateTime<Utc> {
        self.current().next_rotation
    }

    async fn rotate_with(&self, forced_at: Option<DateTime<Utc>>) -> Result<RotationOutcome> {
        let (outcome, loaded) =
            rotate(&self.store, self.clock.as_ref(), &self.config, forced_at).await?;
        self.install(loaded);
        Ok(outcome)
    }

    fn current(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn install(&self, loaded: Loaded) {
        *self.loaded.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(loaded);
    }
}

#[async_trait]
impl Signer for LocalSigner {
    async fn signing_key(&self) -> Result<Arc<dyn SigningKey>> {
        Ok(self.current().signing.clone())
    }

    async fn validation_keys(&self) -> Result<Vec<Jwk>> {
        Ok(self.current().validation.clone())
    }

    async fn key_set_json(&self) -> Result<Arc<[u8]>> {
        Ok(self.current().key_set_json.clone())
    }

    /// The time until the next rotation, at least two minutes (Dex), never more than the
    /// rotation period. A key set fetched now holds the next key too, so it verifies every
    /// token signed until the rotation after next: at least one period from now.
    fn key_set_max_age(&self) -> std::time::Duration {
        let floor = super::KEY_SET_MIN_MAX_AGE;
        let period = self.config.rotation_period.to_std().unwrap_or(floor);
        // Overdue (negative) counts as zero, and so gets the floor.
        let until_rotation = (self.next_rotation() - self.clock.now())
            .to_std()
            .unwrap_or_default();
        until_rotation.clamp(floor.min(period), period)
    }
}

/// Decides and, if due, performs one rotation; returns what happened and the keys to use.
async fn rotate(
    store: &Store,
    clock: &dyn Clock,
    config: &LocalSignerConfig,
    forced_at: Option<DateTime<Utc>>,
) -> Result<(RotationOutcome, Loaded)> {
    let now = clock.now();
    let due = |keys: &SigningKeys| {
        keys.signing_key.is_none()
            || now >= keys.next_rotation
            || forced_at.is_some_and(|t| keys.next_rotation - config.rotation_period < t)
    };
    let stored = match store.get_keys().await {
        Ok(v) => Some(v.value),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e),
    };
    if let Some(keys) = stored.as_ref().filter(|k| !due(k)) {
        return Ok((RotationOutcome::NotDue, load(keys)?));
    }

    // Key generation is slow (RSA): do it before the compare-and-swap, not inside it.
    let algorithm = config.algorithm.as_str();
    let next = generate_jwk(config.algorithm)?;
    let usable_next =
        |keys: &SigningKeys| keys.next_key.as_ref().is_some_and(|k| k.alg == algorithm);
    let mut spare_signing = match stored.as_ref() {
        Some(keys) if usable_next(keys) => None,
        _ => Some(generate_jwk(config.algorithm)?),
    };

    let mut rotated_here = false;
    let written = store
        .upsert_if::<SigningKeys, _>(SigningKeys::KEY, |current| {
            rotated_here = false;
            let mut keys = current.unwrap_or_default();
            if !due(&keys) {
                return Ok(None);
            }
            let signing = match keys.next_key.take() {
                Some(k) if k.alg == algorithm => k,
                _ => match spare_signing.take() {
                    Some(k) => k,
                    None => generate_jwk(config.algorithm)?,
                },
            };
            keys.verification_keys.retain(|v| v.expiry > now);
            if let Some(retired) = keys.signing_key_pub.take() {
                keys.verification_keys.push(VerificationKey {
                    public_key: retired,
                    expiry: now + config.id_token_lifetime,
                });
            }
            keys.signing_key_pub = Some(signing.public_key());
            keys.signing_key = Some(signing);
            keys.next_key = Some(next.clone());
            keys.next_rotation = now + config.rotation_period;
            rotated_here = true;
            Ok(Some(keys))
        })
        .await?;
    let keys = written.ok_or_else(|| Error::Signing {
        message: "the key set vanished during rotation".into(),
    })?;
    let outcome = if rotated_here {
        RotationOutcome::Rotated
    } else {
        RotationOutcome::RotatedElsewhere
    };
    Ok((outcome, load(&keys)?))
}

fn load(keys: &SigningKeys) -> Result<Loaded> {
    let private = keys.signing_key.as_ref().ok_or_else(|| Error::Signing {
        message: "the stored key set has no signing key".into(),
    })?;
    let signing: Arc<dyn SigningKey> = Arc::new(LocalKey::from_jwk(private)?);
    let mut validation = vec![private.public_key()];
    if let Some(next) = &keys.next_key {
        validation.push(next.public_key());
    }
    validation.extend(
        keys.verification_keys
            .iter()
            .map(|v| v.public_key.public_key()),
    );
    let key_set_json = super::key_set_document(&validation)?;
    Ok(Loaded {
        signing,
        validation,
        key_set_json,
        next_rotation: keys.next_rotation,
    })
}
