//! Content-Security-Policy hash sources, computed at compile time.
//!
//! The page's inline script and stylesheet are allowed by their SHA-256
//! (`'sha256-…'`). These `const fn`s compute that hash and its base64 while
//! the crate compiles, so the header is a `&'static str`: no per-request work,
//! no runtime dependency, and an edit to the script cannot forget its hash.

/// The base64 of a SHA-256 digest: 32 bytes are 44 characters with padding.
pub const HASH_LEN: usize = 44;

/// Base64 (standard alphabet, padded) of the SHA-256 of `data`.
pub const fn sha256_base64(data: &[u8]) -> [u8; HASH_LEN] {
    base64(&sha256(data))
}

/// The total length of `parts`, the `N` for [`concat`].
pub const fn total_len(parts: &[&[u8]]) -> usize {
    let (mut len, mut i) = (0, 0);
    while i < parts.len() {
        len += parts[i].len();
        i += 1;
    }
    len
}

/// `parts` one after another in an array of their [`total_len`].
///
/// # Panics
///
/// If `N` is not that length; in a `const` that stops the build.
pub const fn concat<const N: usize>(parts: &[&[u8]]) -> [u8; N] {
    assert!(
        total_len(parts) == N,
        "N must be the total length of the parts"
    );
    let mut out = [0; N];
    let (mut at, mut i) = (0, 0);
    while i < parts.len() {
        let mut j = 0;
        while j < parts[i].len() {
            out[at] = parts[i][j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    out
}

/// Round constants: the first 32 bits of the fractional parts of the cube
/// roots of the first 64 primes (FIPS 180-4, 4.2.2).
const K: [u32; 64] = [
    0x428a_2f98,
    0x7137_4491,
    0xb5c0_fbcf,
    0xe9b5_dba5,
    0x3956_c25b,
    0x59f1_11f1,
    0x923f_82a4,
    0xab1c_5ed5,
    0xd807_aa98,
    0x1283_5b01,
    0x2431_85be,
    0x550c_7dc3,
    0x72be_5d74,
    0x80de_b1fe,
    0x9bdc_06a7,
    0xc19b_f174,
    0xe49b_69c1,
    0xefbe_4786,
    0x0fc1_9dc6,
    0x240c_a1cc,
    0x2de9_2c6f,
    0x4a74_84aa,
    0x5cb0_a9dc,
    0x76f9_88da,
    0x983e_5152,
    0xa831_c66d,
    0xb003_27c8,
    0xbf59_7fc7,
    0xc6e0_0bf3,
    0xd5a7_9147,
    0x06ca_6351,
    0x1429_2967,
    0x27b7_0a85,
    0x2e1b_2138,
    0x4d2c_6dfc,
    0x5338_0d13,
    0x650a_7354,
    0x766a_0abb,
    0x81c2_c92e,
    0x9272_2c85,
    0xa2bf_e8a1,
    0xa81a_664b,
    0xc24b_8b70,
    0xc76c_51a3,
    0xd192_e819,
    0xd699_0624,
    0xf40e_3585,
    0x106a_a070,
    0x19a4_c116,
    0x1e37_6c08,
    0x2748_774c,
    0x34b0_bcb5,
    0x391c_0cb3,
    0x4ed8_aa4a,
    0x5b9c_ca4f,
    0x682e_6ff3,
    0x748f_82ee,
    0x78a5_636f,
    0x84c8_7814,
    0x8cc7_0208,
    0x90be_fffa,
    0xa450_6ceb,
    0xbef9_a3f7,
    0xc671_78f2,
];

/// Initial hash value (FIPS 180-4, 5.3.3).
const H0: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// SHA-256 (FIPS 180-4) of `data`.
const fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h = H0;
    let whole = data.len() / 64;
    let mut block = 0;
    while block < whole {
        h = compress(h, data, block * 64);
        block += 1;
    }
    // Padding: the rest of the data, a 1 bit, zeros, then the length in bits
    // as a big-endian u64 at the end of the last block (one or two blocks).
    let rest = data.len() - whole * 64;
    let mut tail = [0; 128];
    let mut i = 0;
    while i < rest {
        tail[i] = data[whole * 64 + i];
        i += 1;
    }
    tail[rest] = 0x80;
    let end = if rest < 56 { 64 } else { 128 };
    let bits = (data.len() as u64).wrapping_mul(8).to_be_bytes();
    let mut i = 0;
    while i < 8 {
        tail[end - 8 + i] = bits[i];
        i += 1;
    }
    h = compress(h, &tail, 0);
    if end == 128 {
        h = compress(h, &tail, 64);
    }
    let mut out = [0; 32];
    let mut i = 0;
    while i < 8 {
        let word = h[i].to_be_bytes();
        out[4 * i] = word[0];
        out[4 * i + 1] = word[1];
        out[4 * i + 2] = word[2];
        out[4 * i + 3] = word[3];
        i += 1;
    }
    out
}

/// One round of the compression function on the 64-byte block at `data[at..]`.
#[allow(clippy::many_single_char_names, reason = "FIPS 180-4's names")]
const fn compress(h: [u32; 8], data: &[u8], at: usize) -> [u32; 8] {
    let mut w = [0u32; 64];
    let mut t = 0;
    while t < 16 {
        let i = at + 4 * t;
        w[t] = u32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
        t += 1;
    }
    while t < 64 {
        let s0 = w[t - 15].rotate_right(7) ^ w[t - 15].rotate_right(18) ^ (w[t - 15] >> 3);
        let s1 = w[t - 2].rotate_right(17) ^ w[t - 2].rotate_right(19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16]
            .wrapping_add(s0)
            .wrapping_add(w[t - 7])
            .wrapping_add(s1);
        t += 1;
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
    let mut t = 0;
    while t < 64 {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = hh
            .wrapping_add(s1)
            .wrapping_add(ch)
            .wrapping_add(K[t])
            .wrapping_add(w[t]);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        hh = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
        t += 1;
    }
    [
        h[0].wrapping_add(a),
        h[1].wrapping_add(b),
        h[2].wrapping_add(c),
        h[3].wrapping_add(d),
        h[4].wrapping_add(e),
        h[5].wrapping_add(f),
        h[6].wrapping_add(g),
        h[7].wrapping_add(hh),
    ]
}

/// Standard base64 with padding of a 32-byte digest.
const fn base64(bytes: &[u8; 32]) -> [u8; HASH_LEN] {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = [b'='; HASH_LEN];
    let mut i = 0;
    while i < 11 {
        // Ten groups of three bytes, then the last two bytes padded with one '='.
        let b0 = bytes[3 * i] as u32;
        let b1 = bytes[3 * i + 1] as u32;
        let b2 = if 3 * i + 2 < 32 {
            bytes[3 * i + 2] as u32
        } else {
            0
        };
        let n = b0 << 16 | b1 << 8 | b2;
        out[4 * i] = ALPHABET[(n >> 18) as usize & 63];
        out[4 * i + 1] = ALPHABET[(n >> 12) as usize & 63];
        out[4 * i + 2] = ALPHABET[(n >> 6) as usize & 63];
        if 3 * i + 2 < 32 {
            out[4 * i + 3] = ALPHABET[n as usize & 63];
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn hex(bytes: &[u8]) -> String {
        use std::fmt::Write as _;
        bytes.iter().fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
    }

    #[test]
    fn sha256_matches_the_fips_examples() {
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // 56 bytes: the length no longer fits the first block, so padding takes two.
        assert_eq!(
            hex(&sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn sha256_matches_the_sha2_crate_at_every_padding_length() {
        let data: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        for len in 0..data.len() {
            let ours = sha256(&data[..len]);
            assert_eq!(ours[..], Sha256::digest(&data[..len])[..], "length {len}");
        }
    }

    #[test]
    fn base64_is_standard_and_padded() {
        let digest = sha256(b"abc");
        let ours = sha256_base64(b"abc");
        assert_eq!(
            std::str::from_utf8(&ours).unwrap(),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
        assert_eq!(base64(&digest), ours);
    }

    #[test]
    fn concat_joins_the_parts() {
        const PARTS: [&[u8]; 3] = [b"ab", b"", b"cde"];
        const JOINED: [u8; total_len(&PARTS)] = concat(&PARTS);
        assert_eq!(&JOINED, b"abcde");
    }
}
