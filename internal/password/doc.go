// Package password hashes, verifies and validates user passwords.
//
// Hashing uses argon2id (RFC 9106) with parameters at or above the OWASP
// recommendation (19 MiB of memory, two passes, one lane). Hashes are stored
// in the PHC string format,
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// so the parameters travel with every hash and can be raised later; see
// [Hasher.NeedsRehash]. Each hash allocates its full memory cost, so a
// [Hasher] bounds how many run at once.
//
// Validation follows NIST SP 800-63B: a length window counted in Unicode
// code points and a blocklist of common passwords, with no composition
// rules; see [Validate].
package password
