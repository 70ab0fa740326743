//! Zigzag varints, as Kafka writes them inside records (`ByteUtils.writeVarint`).
//!
//! A value is zigzag-mapped (`(v << 1) ^ (v >> 31)`) so small negative numbers stay short,
//! then written seven bits at a time, least significant group first, with 0x80 marking
//! "more follows". Kafka rejects a varint longer than 5 bytes and a varlong longer than 10;
//! so do we, which also bounds the work a hostile input can cause.

use crate::error::{Corruption, Error, Result};

/// Longest encoding of a 32-bit varint.
pub const MAX_VARINT_LEN: usize = 5;
/// Longest encoding of a 64-bit varlong.
pub const MAX_VARLONG_LEN: usize = 10;

/// Bytes needed to encode `value` as a zigzag varint.
#[inline]
pub fn varint_len(value: i32) -> usize {
    varlong_len(i64::from(value))
}

/// Bytes needed to encode `value` as a zigzag varlong.
#[inline]
pub fn varlong_len(value: i64) -> usize {
    let zz = ((value << 1) ^ (value >> 63)) as u64;
    if zz < 0x80 {
        return 1;
    }
    if zz < 0x4000 {
        return 2;
    }
    // Each byte carries 7 bits; `| 1` makes zero take one byte.
    let bits = 64 - (zz | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends `value` as a zigzag varint.
#[inline]
pub fn put_varint(out: &mut Vec<u8>, value: i32) {
    put_zigzag_u64(out, ((value << 1) ^ (value >> 31)) as u32 as u64);
}

/// Appends `value` as a zigzag varlong.
#[inline]
pub fn put_varlong(out: &mut Vec<u8>, value: i64) {
    put_zigzag_u64(out, ((value << 1) ^ (value >> 63)) as u64);
}

#[inline]
fn put_zigzag_u64(out: &mut Vec<u8>, mut zz: u64) {
    if zz < 0x80 {
        out.push(zz as u8);
        return;
    }
    let mut tmp = [0u8; MAX_VARLONG_LEN];
    let mut n = 0;
    while zz >= 0x80 {
        tmp[n] = (zz as u8) | 0x80;
        zz >>= 7;
        n += 1;
    }
    tmp[n] = zz as u8;
    out.extend_from_slice(&tmp[..=n]);
}

/// Writes `value` as a zigzag varint at the start of `dst`, returning the bytes written.
///
/// `dst` must have room for [`varint_len`]`(value)` bytes; a shorter `dst` ends the write
/// early (the caller sized it, so that never happens).
#[inline]
pub fn write_varint(dst: &mut [u8], value: i32) -> usize {
    write_zigzag_u64(dst, ((value << 1) ^ (value >> 31)) as u32 as u64)
}

/// Writes `value` as a zigzag varlong at the start of `dst`; see [`write_varint`].
#[inline]
pub fn write_varlong(dst: &mut [u8], value: i64) -> usize {
    write_zigzag_u64(dst, ((value << 1) ^ (value >> 63)) as u64)
}

#[inline]
fn write_zigzag_u64(dst: &mut [u8], zz: u64) -> usize {
    // Lengths, deltas and counts are nearly always one or two bytes: write those without a
    // loop (a loop over the slice compiles to far more instructions per field).
    if zz < 0x80 {
        if let Some(b) = dst.first_mut() {
            *b = zz as u8;
        }
        return 1;
    }
    if zz < 0x4000 {
        if let [a, b, ..] = dst {
            *a = (zz as u8) | 0x80;
            *b = (zz >> 7) as u8;
        }
        return 2;
    }
    write_zigzag_slow(dst, zz)
}

#[cold]
fn write_zigzag_slow(dst: &mut [u8], mut zz: u64) -> usize {
    let mut n = 0;
    for slot in dst.iter_mut() {
        if zz < 0x80 {
            *slot = zz as u8;
            return n + 1;
        }
        *slot = (zz as u8) | 0x80;
        zz >>= 7;
        n += 1;
    }
    n
}

/// Zigzag values below this encode in one or two bytes: [`short_varint`] takes them.
pub(crate) const SHORT_VARINT_LIMIT: u64 = 0x4000;

/// The zigzag mapping of a 32-bit value, widened (what [`write_varint`] encodes).
#[inline]
pub(crate) fn zigzag32(value: i32) -> u64 {
    ((value << 1) ^ (value >> 31)) as u32 as u64
}

/// The zigzag mapping of a 64-bit value (what [`write_varlong`] encodes).
#[inline]
pub(crate) fn zigzag64(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// How many bytes the varint of zigzag value `zz` (below [`SHORT_VARINT_LIMIT`]) takes.
#[inline(always)]
pub(crate) fn short_varint_len(zz: u64) -> usize {
    debug_assert!(zz < SHORT_VARINT_LIMIT);
    1 + usize::from(zz >= 0x80)
}

/// Writes the varint of zigzag value `zz` (below [`SHORT_VARINT_LIMIT`]) at `dst[at..]`,
/// returning its length ([`short_varint_len`]).
///
/// A record builder's fields nearly always keep their width from one record to the next, so
/// a branch on it is predicted and cheaper than computing both bytes every time.
#[inline(always)]
pub(crate) fn write_short_varint(dst: &mut [u8], at: usize, zz: u64) -> usize {
    debug_assert!(zz < SHORT_VARINT_LIMIT);
    if zz < 0x80 {
        dst[at] = zz as u8;
        1
    } else {
        dst[at] = zz as u8 | 0x80;
        dst[at + 1] = (zz >> 7) as u8;
        2
    }
}

/// Reads a varint of one or two bytes at `at` in `window`, returning its zigzag value and its
/// length; `None` for a longer varint or one that runs past the window.
///
/// For a record decoder's fast path: with a fixed-size window and small offsets the compiler
/// needs no bounds checks, and anything unusual is left to the checked readers.
#[inline(always)]
pub(crate) fn read_short_varint<const N: usize>(
    window: &[u8; N],
    at: usize,
) -> Option<(u64, usize)> {
    let first = *window.get(at)?;
    if first < 0x80 {
        return Some((u64::from(first), 1));
    }
    let second = *window.get(at + 1)?;
    if second < 0x80 {
        return Some((u64::from(first & 0x7f) | (u64::from(second) << 7), 2));
    }
    None
}

/// The value a zigzag value stands for (the inverse of [`zigzag64`]).
#[inline(always)]
pub(crate) fn unzigzag(zz: u64) -> i64 {
    ((zz >> 1) as i64) ^ -((zz & 1) as i64)
}

/// Reads a zigzag varint at `*pos`, advancing `*pos` past it.
///
/// # Errors
/// [`Corruption::Varint`] if the input ends inside the varint or it runs past 5 bytes.
#[inline]
pub fn get_varint(buf: &[u8], pos: &mut usize) -> Result<i32> {
    read_varint(buf, pos).map_err(|reason| Error::corrupt(Corruption::Varint { reason }))
}

/// As [`get_varint`] with a small error (the reason), for hot decoding loops: a full
/// [`Error`] is large, and returning it by value from every field read costs time.
#[inline]
pub(crate) fn read_varint(buf: &[u8], pos: &mut usize) -> Result<i32, &'static str> {
    let zz = get_raw(buf, pos, MAX_VARINT_LEN, "varint longer than 5 bytes")?;
    // Kafka accepts any fifth byte and keeps the low 32 bits; do the same.
    let zz = zz as u32;
    Ok(((zz >> 1) as i32) ^ -((zz & 1) as i32))
}

/// Reads a zigzag varlong at `*pos`, advancing `*pos` past it.
///
/// # Errors
/// [`Corruption::Varint`] if the input ends inside the varlong or it runs past 10 bytes.
#[inline]
pub fn get_varlong(buf: &[u8], pos: &mut usize) -> Result<i64> {
    read_varlong(buf, pos).map_err(|reason| Error::corrupt(Corruption::Varint { reason }))
}

/// As [`get_varlong`] with a small error; see [`read_varint`].
#[inline]
pub(crate) fn read_varlong(buf: &[u8], pos: &mut usize) -> Result<i64, &'static str> {
    let zz = get_raw(buf, pos, MAX_VARLONG_LEN, "varlong longer than 10 bytes")?;
    Ok(((zz >> 1) as i64) ^ -((zz & 1) as i64))
}

#[inline]
fn get_raw(
    buf: &[u8],
    pos: &mut usize,
    max_len: usize,
    too_long: &'static str,
) -> Result<u64, &'static str> {
    // Most lengths and deltas fit one or two bytes (a 100-byte value's length, an offset
    // delta below 8192): take those paths without the loop.
    if let Some(&b) = buf.get(*pos) {
        if b < 0x80 {
            *pos += 1;
            return Ok(u64::from(b));
        }
        if let Some(&b2) = buf.get(*pos + 1) {
            if b2 < 0x80 {
                *pos += 2;
                return Ok(u64::from(b & 0x7f) | (u64::from(b2) << 7));
            }
        }
    }
    let mut value = 0u64;
    let mut shift = 0u32;
    let start = *pos;
    for i in 0..max_len {
        let Some(&b) = buf.get(start + i) else {
            return Err("input ends inside a varint");
        };
        value |= u64::from(b & 0x7f).wrapping_shl(shift);
        if b & 0x80 == 0 {
            *pos = start + i + 1;
            return Ok(value);
        }
        shift += 7;
    }
    Err(too_long)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn kafka_vectors() -> Result<()> {
        // From Kafka's ByteUtilsTest and FORMAT.md: -1 is 0x01, 0 is 0x00, 1 is 0x02.
        for (v, bytes) in [
            (0i32, vec![0x00]),
            (-1, vec![0x01]),
            (1, vec![0x02]),
            (63, vec![0x7e]),
            (-64, vec![0x7f]),
            (64, vec![0x80, 0x01]),
            (i32::MAX, vec![0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, vec![0xff, 0xff, 0xff, 0xff, 0x0f]),
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out, bytes, "encoding {v}");
            assert_eq!(varint_len(v), bytes.len());
            let mut pos = 0;
            assert_eq!(get_varint(&bytes, &mut pos)?, v);
            assert_eq!(pos, bytes.len());
        }
        Ok(())
    }

    #[test]
    fn rejects_overlong_and_truncated() {
        let six = [0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
        assert!(get_varint(&six, &mut 0).is_err());
        assert!(get_varlong(&six, &mut 0).is_ok());
        let eleven = [0x80u8; 11];
        assert!(get_varlong(&eleven, &mut 0).is_err());
        assert!(get_varint(&[0x80, 0x80], &mut 0).is_err());
        assert!(get_varint(&[], &mut 0).is_err());
    }

    proptest! {
        #[test]
        fn varlong_roundtrip(v in any::<i64>()) {
            let mut out = Vec::new();
            put_varlong(&mut out, v);
            prop_assert_eq!(out.len(), varlong_len(v));
            let mut pos = 0;
            prop_assert_eq!(get_varlong(&out, &mut pos).ok(), Some(v));
            prop_assert_eq!(pos, out.len());
        }

        #[test]
        fn slice_writers_match(v in any::<i64>()) {
            let mut out = Vec::new();
            put_varlong(&mut out, v);
            let mut dst = [0u8; 10];
            let n = write_varlong(&mut dst, v);
            prop_assert_eq!(&dst[..n], &out[..]);
            let mut out = Vec::new();
            put_varint(&mut out, v as i32);
            let n = write_varint(&mut dst, v as i32);
            prop_assert_eq!(&dst[..n], &out[..]);
        }

        #[test]
        fn short_varints_match(v in -0x2000i32..0x2000) {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut dst = [0u8; 3];
            let len = write_short_varint(&mut dst, 1, zigzag32(v));
            prop_assert_eq!(len, short_varint_len(zigzag32(v)));
            prop_assert_eq!(&dst[1..1 + len], &out[..]);
            prop_assert_eq!(zigzag64(i64::from(v)), zigzag32(v));
        }

        #[test]
        fn short_reader_matches(v in -0x3000i32..0x3000, at in 0usize..4) {
            let mut window = [0xffu8; 8];
            let mut out = Vec::new();
            put_varint(&mut out, v);
            window[at..at + out.len()].copy_from_slice(&out);
            let short = read_short_varint(&window, at);
            if out.len() <= 2 {
                prop_assert_eq!(short, Some((zigzag32(v), out.len())));
                prop_assert_eq!(unzigzag(zigzag32(v)), i64::from(v));
            } else {
                prop_assert_eq!(short, None);
            }
        }

        #[test]
        fn varint_roundtrip(v in any::<i32>()) {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            prop_assert_eq!(out.len(), varint_len(v));
            prop_assert_eq!(get_varint(&out, &mut 0).ok(), Some(v));
        }
    }
}
