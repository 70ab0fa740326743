//! Fuzz logic `varint`: [`get_varint`] and [`get_varlong`] at every position of the input.
//!
//! Checks: no panic; each result agrees with a plain reference decoder (Kafka's rules: at
//! most 5 / 10 bytes, the input may end inside one); `*pos` moves past exactly the bytes
//! read, and not at all on error; an accepted value re-encodes ([`put_varint`],
//! [`write_varint`], [`varint_len`]) to the same bytes when the input was minimal, and
//! always decodes back to itself.
//!
//! Shared by `fuzz/fuzz_targets/varint.rs` and the main crate's corpus replay test; uses
//! tidelog's public API only.

use tidelog::record::varint::{
    get_varint, get_varlong, put_varint, put_varlong, varint_len, varlong_len, write_varint,
    write_varlong, MAX_VARINT_LEN, MAX_VARLONG_LEN,
};

/// Runs the checks on one input.
pub fn run(data: &[u8]) {
    // Positions past 64 add nothing new: every varint is at most 10 bytes.
    for start in 0..data.len().min(64) {
        check_varint(data, start);
        check_varlong(data, start);
    }
    check_varint(data, data.len());
    check_varlong(data, data.len());
}

/// The reference decoder: the zigzag value (raw, before un-zigzagging) and the length.
fn reference(data: &[u8], start: usize, max_len: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for i in 0..max_len {
        let b = *data.get(start + i)?;
        // Bits past 64 are dropped (the tenth byte's upper six), as Kafka's readers do.
        value |= u64::from(b & 0x7f) << (7 * i as u32);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// True if `bytes` is the shortest encoding, with no bits past the width of the type.
fn is_minimal(bytes: &[u8], width_bits: u32) -> bool {
    let Some((&last, rest)) = bytes.split_last() else {
        return false;
    };
    if !rest.is_empty() && last == 0 {
        return false;
    }
    let used = 7 * rest.len() as u32;
    width_bits >= used + 7 || u32::from(last) >> (width_bits - used) == 0
}

fn check_varint(data: &[u8], start: usize) {
    let mut pos = start;
    let got = get_varint(data, &mut pos);
    let want = reference(data, start, MAX_VARINT_LEN);
    match (got, want) {
        (Ok(v), Some((zz, len))) => {
            let zz = zz as u32; // the fifth byte's high bits are dropped, as Kafka does
            assert_eq!(
                v,
                ((zz >> 1) as i32) ^ -((zz & 1) as i32),
                "varint at {start}"
            );
            assert_eq!(pos, start + len, "varint at {start}: position");
            let read = &data[start..pos];
            let mut enc = Vec::new();
            put_varint(&mut enc, v);
            assert_eq!(enc.len(), varint_len(v));
            let mut dst = [0u8; MAX_VARINT_LEN];
            let n = write_varint(&mut dst, v);
            assert_eq!(&dst[..n], &enc[..]);
            if is_minimal(read, 32) {
                assert_eq!(
                    read,
                    &enc[..],
                    "minimal varint at {start} re-encodes differently"
                );
            }
            let mut p = 0;
            assert_eq!(get_varint(&enc, &mut p).ok(), Some(v));
            assert_eq!(p, enc.len());
        }
        (Err(e), None) => {
            assert_eq!(pos, start, "varint at {start}: position moved on error");
            let _ = e.to_string();
        }
        (got, want) => panic!("varint at {start}: got {got:?}, reference {want:?}"),
    }
}

fn check_varlong(data: &[u8], start: usize) {
    let mut pos = start;
    let got = get_varlong(data, &mut pos);
    let want = reference(data, start, MAX_VARLONG_LEN);
    match (got, want) {
        (Ok(v), Some((zz, len))) => {
            assert_eq!(
                v,
                ((zz >> 1) as i64) ^ -((zz & 1) as i64),
                "varlong at {start}"
            );
            assert_eq!(pos, start + len, "varlong at {start}: position");
            let read = &data[start..pos];
            let mut enc = Vec::new();
            put_varlong(&mut enc, v);
            assert_eq!(enc.len(), varlong_len(v));
            let mut dst = [0u8; MAX_VARLONG_LEN];
            let n = write_varlong(&mut dst, v);
            assert_eq!(&dst[..n], &enc[..]);
            if is_minimal(read, 64) {
                assert_eq!(
                    read,
                    &enc[..],
                    "minimal varlong at {start} re-encodes differently"
                );
            }
            let mut p = 0;
            assert_eq!(get_varlong(&enc, &mut p).ok(), Some(v));
            assert_eq!(p, enc.len());
        }
        (Err(e), None) => {
            assert_eq!(pos, start, "varlong at {start}: position moved on error");
            let _ = e.to_string();
        }
        (got, want) => panic!("varlong at {start}: got {got:?}, reference {want:?}"),
    }
}
