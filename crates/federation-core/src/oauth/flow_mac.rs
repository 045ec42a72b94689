//! MACs that bind each step of a browser login to the authorization request (the fix for Dex
//! GHSA-vh7g-p26c-j2cw, `reference/dex.md` §1.7): every hop carries `req=<id>&hmac=<mac>`
//! with `mac = HMAC-SHA256(request key, id || 0 || step)`. Only the browser that completed the
//! login learns the MAC; knowing the request id is not enough.

use ring::hmac;

use crate::jose::{b64url, b64url_decode};

/// The steps a MAC can authorise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Logged in; continue to approval or the response.
    Continue,
    /// The approval page may be shown and answered.
    Approval,
    /// The user approved; issue the response.
    Approved,
}

impl Step {
    fn label(self) -> &'static [u8] {
        match self {
            Step::Continue => b"step:continue",
            Step::Approval => b"step:approval",
            Step::Approved => b"step:approved",
        }
    }
}

fn tag(key: &[u8], request_id: &str, step: Step) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(request_id.as_bytes());
    ctx.update(&[0]);
    ctx.update(step.label());
    ctx.sign()
}

/// The MAC for `step` of request `request_id`.
pub fn sign(key: &[u8], request_id: &str, step: Step) -> String {
    b64url(tag(key, request_id, step))
}

/// `true` if `mac` authorises `step` of `request_id`; constant-time.
pub fn verify(key: &[u8], request_id: &str, step: Step, mac: &str) -> bool {
    let Some(presented) = b64url_decode(mac) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut message = request_id.as_bytes().to_vec();
    message.push(0);
    message.extend_from_slice(step.label());
    hmac::verify(&key, &message, &presented).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_bind_request_step_and_key() {
        let key = [9u8; 32];
        let mac = sign(&key, "req1", Step::Continue);
        assert!(verify(&key, "req1", Step::Continue, &mac));
        assert!(!verify(&key, "req2", Step::Continue, &mac));
        assert!(!verify(&key, "req1", Step::Approved, &mac));
        assert!(!verify(&[8u8; 32], "req1", Step::Continue, &mac));
        assert!(!verify(&key, "req1", Step::Continue, ""));
        assert!(!verify(&key, "req1", Step::Continue, "!!"));
    }
}
