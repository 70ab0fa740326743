//! The record generator every bench shares, so their figures describe the same data:
//! values of exactly `size` bytes of text-like bytes (words, phrases and numbers from a fixed
//! seed, compressing roughly 2-4x), keys of 8-16 bytes, increasing timestamps, no headers.

use tidelog::record::Record;

/// Timestamp of the first generated record.
pub const BASE_TIMESTAMP: i64 = 1_700_000_000_000;

/// SplitMix64: a fixed seed gives the same records on every machine and run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`, for small `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `count` records with `size`-byte text-like values, keys of 8–16 bytes and increasing
/// timestamps.
pub fn generate_records(size: usize, count: usize) -> Vec<Record> {
    let mut rng = Rng(0x7469_6465_6c6f_6721);
    let vocabulary: Vec<Vec<u8>> = (0..256)
        .map(|_| {
            let len = 2 + rng.below(8);
            (0..len).map(|_| b'a' + rng.below(26) as u8).collect()
        })
        .collect();
    // Phrases of 2-5 common words: the longer repeats that LZ codecs live on.
    let phrases: Vec<Vec<u8>> = (0..32)
        .map(|_| {
            let words = 2 + rng.below(4);
            let mut phrase = Vec::new();
            for i in 0..words {
                if i > 0 {
                    phrase.push(b' ');
                }
                phrase.extend_from_slice(&vocabulary[rng.below(32)]);
            }
            phrase
        })
        .collect();
    let mut timestamp = BASE_TIMESTAMP;
    (0..count)
        .map(|_| {
            timestamp += 1 + rng.below(5) as i64;
            let key_digits = 3 + rng.below(9);
            let mut key = b"user".to_vec();
            key.push(b'-');
            key.extend((0..key_digits).map(|_| b'0' + rng.below(10) as u8));
            let mut value = Vec::with_capacity(size + 16);
            while value.len() < size {
                if rng.below(6) == 0 {
                    // A number: the part of real payloads that barely compresses.
                    let digits = 3 + rng.below(6);
                    value.extend((0..digits).map(|_| b'0' + rng.below(10) as u8));
                } else if rng.below(3) == 0 {
                    value.extend_from_slice(&phrases[rng.below(phrases.len())]);
                } else {
                    // The smaller of two draws favours low indices: some words are common.
                    let word = rng.below(vocabulary.len()).min(rng.below(vocabulary.len()));
                    value.extend_from_slice(&vocabulary[word]);
                }
                value.push(b' ');
            }
            value.truncate(size);
            Record::new(timestamp, value).with_key(key)
        })
        .collect()
}
