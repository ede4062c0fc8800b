//! All of pfid's cryptography in one place: sealing keys at rest, JOSE signing and
//! verification, derived secrets. Backed by `ring` (ES256 signing in tens of
//! microseconds); RSA key generation, which ring lacks, uses the `rsa` crate once per key.

pub mod jose;
pub mod seal;
