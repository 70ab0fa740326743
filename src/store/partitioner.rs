//! Routing records to partitions as Kafka's Java producer does.
//!
//! - Keyed records: [`murmur2`] of the key bytes, made positive ([`to_positive`]), modulo the
//!   partition count ([`partition_for_key`]). This is Kafka's `BuiltInPartitioner
//!   .partitionForKey` (and the old `DefaultPartitioner`), so a key lands on the same
//!   partition number here as it does when a Java, librdkafka (`murmur2_random`) or
//!   kafka-python client produces it to a topic with the same partition count.
//! - Unkeyed records (and every record when keys are ignored): sticky, as Kafka's
//!   `BuiltInPartitioner` (KIP-480, KIP-794): they stay on one partition until about a
//!   batch's worth of bytes went there, then move to another one at random, so unkeyed
//!   traffic fills whole batches instead of spraying one-record batches over every partition.

use std::hash::{BuildHasher, Hasher};

/// Kafka's murmur2 seed (`Utils.murmur2`).
const SEED: u32 = 0x9747_b28c;
/// Murmur2's multiplier.
const M: u32 = 0x5bd1_e995;
/// Murmur2's shift.
const R: u32 = 24;

/// Kafka's `Utils.murmur2`: the 32-bit MurmurHash2 of `data` with seed `0x9747b28c`, as the
/// Java `int` it returns.
///
/// Words are read little-endian, as Kafka reads them; the length mixed into the seed is the
/// length as a Java `int` (wrapping, for inputs of 2 GiB and more).
///
/// ```
/// use tidelog::store::murmur2;
/// // Kafka's own test vectors (`UtilsTest.testMurmur2`).
/// assert_eq!(murmur2(b"21"), -973932308);
/// assert_eq!(murmur2(b"abc"), 479470107);
/// ```
pub fn murmur2(data: &[u8]) -> i32 {
    let mut h = SEED ^ data.len() as u32;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        // Assembled by hand: the crate denies the `from_le_bytes` family, and Kafka's byte
        // order here is a property of the hash, not of any file format.
        let mut k = u32::from(w[0])
            | (u32::from(w[1]) << 8)
            | (u32::from(w[2]) << 16)
            | (u32::from(w[3]) << 24);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        if tail.len() == 3 {
            h ^= u32::from(tail[2]) << 16;
        }
        if tail.len() >= 2 {
            h ^= u32::from(tail[1]) << 8;
        }
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `Utils.toPositive`: clears the sign bit (not `abs`, which would map
/// `i32::MIN` to itself).
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition Kafka's producer picks for a record with this key: `toPositive(murmur2(key))
/// % partitions`.
///
/// A topic has at least one partition; 0 is taken as 1.
///
/// ```
/// use tidelog::store::partition_for_key;
/// assert_eq!(partition_for_key(b"abc", 1000), 107); // as Kafka's Java client
/// ```
pub fn partition_for_key(key: &[u8], partitions: u32) -> i32 {
    // `to_positive` leaves a value in 0..=i32::MAX, so the remainder fits an i32.
    (to_positive(murmur2(key)) as u32 % partitions.max(1)) as i32
}

/// `a % d` for a fixed `d`, by multiplication (Lemire, Kaser and Kurz, "Faster remainder by
/// direct computation", 2019): exact for every 32-bit `a` and `d`, and several times cheaper
/// than a division, which is most of the cost of routing a short key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FastMod {
    d: u32,
    m: u64,
}

impl FastMod {
    /// The remainder by `d`; 0 is taken as 1.
    pub(crate) fn new(d: u32) -> Self {
        let d = d.max(1);
        FastMod {
            d,
            // Wraps to 0 for d = 1, which then yields 0 as it should.
            m: (u64::MAX / u64::from(d)).wrapping_add(1),
        }
    }

    /// `a % d`.
    pub(crate) fn rem(self, a: u32) -> u32 {
        let low = self.m.wrapping_mul(u64::from(a));
        ((u128::from(low) * u128::from(self.d)) >> 64) as u32
    }

    /// The partition for `key`: [`partition_for_key`] with this divisor.
    pub(crate) fn partition_for_key(self, key: &[u8]) -> i32 {
        self.rem(to_positive(murmur2(key)) as u32) as i32
    }
}

/// The sticky choice for unkeyed records of one topic (Kafka's `BuiltInPartitioner` without
/// its adaptive load statistics: every local partition is equally available).
#[derive(Debug, Clone)]
pub(crate) struct StickyPartitioner {
    /// The partition unkeyed records go to now; `None` before the first one.
    current: Option<i32>,
    /// Bytes (record size estimates) sent to `current` since it was chosen.
    produced: usize,
    /// Move on once `produced` reaches this: Kafka's `batch.size`.
    sticky_bytes: usize,
    /// xorshift64* state, randomly seeded per producer.
    rng: u64,
}

impl StickyPartitioner {
    /// A partitioner that moves on after `sticky_bytes` bytes (at least one record).
    pub(crate) fn new(sticky_bytes: usize) -> Self {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(sticky_bytes);
        StickyPartitioner {
            current: None,
            produced: 0,
            sticky_bytes,
            // xorshift must not start at zero.
            rng: h.finish() | 1,
        }
    }

    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The partition for the next unkeyed record among `partitions` (at least 1).
    pub(crate) fn partition(&mut self, partitions: u32) -> i32 {
        match self.current {
            Some(p) if (p as u32) < partitions => p,
            _ => self.switch(partitions),
        }
    }

    /// Counts `bytes` sent to the current partition, and moves on once a batch's worth went
    /// there.
    pub(crate) fn record_sent(&mut self, bytes: usize, partitions: u32) {
        self.produced += bytes;
        if self.produced >= self.sticky_bytes {
            self.switch(partitions);
        }
    }

    /// Picks a new partition at random, another one than the current when there is a choice
    /// (so unkeyed traffic always spreads), and starts counting afresh.
    fn switch(&mut self, partitions: u32) -> i32 {
        let n = u64::from(partitions.max(1));
        let next = match self.current {
            Some(p) if n > 1 && (p as u64) < n => (p as u64 + 1 + self.next_random() % (n - 1)) % n,
            _ => self.next_random() % n,
        };
        self.current = Some(next as i32);
        self.produced = 0;
        next as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's `UtilsTest.testMurmur2` (apache/kafka,
    /// `clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java`).
    const KAFKA_VECTORS: [(&[u8], i32); 6] = [
        (b"21", -973_932_308),
        (b"foobar", -790_332_482),
        (b"a-little-bit-long-string", -985_981_536),
        (b"a-little-bit-longer-string", -1_486_304_829),
        (
            b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58_897_971,
        ),
        (b"abc", 479_470_107),
    ];

    /// librdkafka's `unittest_murmur2` (`src/rdmurmur2.c`), whose table is named
    /// `java_murmur2_results`: the Java client's values for the same keys, covering every
    /// tail length (the "1234" and "PreAmble..." suffixes) and the empty key.
    const LIBRDKAFKA_VECTORS: [(&[u8], u32); 11] = [
        (b"kafka", 0xd067_cf64),
        (b"giberish123456789", 0x8f55_2b0c),
        (b"1234", 0x9fc9_7b14),
        (b"234", 0xe7c0_09ca),
        (b"34", 0x8739_30da),
        (b"4", 0x5a4b_5ca1),
        (b"PreAmbleWillBeRemoved,ThePrePartThatIs", 0x7842_4f1c),
        (b"reAmbleWillBeRemoved,ThePrePartThatIs", 0x4a62_b377),
        (b"eAmbleWillBeRemoved,ThePrePartThatIs", 0xe0e4_e09e),
        (b"AmbleWillBeRemoved,ThePrePartThatIs", 0x62b8_b43f),
        (b"", 0x106e_08d9),
    ];

    /// kafka-python's `test_murmur2_java_compatibility` (`test/test_partitioner.py`):
    /// partitions out of 1000, "compared with output from Kafka's
    /// org.apache.kafka.clients.producer.Partitioner".
    const PARTITION_VECTORS: [(&[u8], i32); 6] = [
        (b"", 681),
        (b"a", 524),
        (b"ab", 434),
        (b"abc", 107),
        (b"123456789", 566),
        (b"\x00 ", 742),
    ];

    #[test]
    fn murmur2_matches_kafkas_own_vectors() {
        for (key, want) in KAFKA_VECTORS {
            assert_eq!(murmur2(key), want, "{:?}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn murmur2_matches_the_java_values_librdkafka_checks() {
        for (key, want) in LIBRDKAFKA_VECTORS {
            assert_eq!(
                murmur2(key),
                want as i32,
                "{:?}",
                String::from_utf8_lossy(key)
            );
        }
    }

    #[test]
    fn partitions_match_the_java_client() {
        for (key, want) in PARTITION_VECTORS {
            assert_eq!(partition_for_key(key, 1000), want, "{key:?}");
        }
        // The same vectors through the formula, for every count up to 64: the sign bit is
        // cleared (not `abs`), then the remainder taken.
        for (key, hash) in KAFKA_VECTORS {
            for n in 1..=64u32 {
                let want = ((hash & 0x7fff_ffff) as u32 % n) as i32;
                assert_eq!(partition_for_key(key, n), want);
            }
        }
    }

    #[test]
    fn fast_remainder_is_exact() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let divisors = [
            1,
            2,
            3,
            4,
            5,
            6,
            7,
            8,
            10,
            50,
            1000,
            65_537,
            i32::MAX as u32,
            u32::MAX,
        ];
        for d in divisors {
            let f = FastMod::new(d);
            for a in [
                0,
                1,
                d - 1,
                d,
                d.wrapping_add(1),
                u32::MAX,
                u32::MAX - 1,
                1 << 31,
            ] {
                assert_eq!(f.rem(a), a % d, "{a} % {d}");
            }
            for _ in 0..10_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let a = x as u32;
                assert_eq!(f.rem(a), a % d, "{a} % {d}");
            }
        }
        for (key, want) in PARTITION_VECTORS {
            assert_eq!(FastMod::new(1000).partition_for_key(key), want);
        }
    }

    #[test]
    fn to_positive_clears_the_sign_bit() {
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(-1), i32::MAX);
        assert_eq!(to_positive(5), 5);
    }

    #[test]
    fn sticky_stays_until_a_batch_worth_then_moves() {
        let mut s = StickyPartitioner::new(300);
        let first = s.partition(4);
        for _ in 0..2 {
            assert_eq!(s.partition(4), first);
            s.record_sent(100, 4);
        }
        assert_eq!(s.partition(4), first);
        s.record_sent(100, 4);
        let second = s.partition(4);
        assert_ne!(second, first, "moved on after 300 bytes");
        let mut seen = [false; 4];
        for _ in 0..200 {
            let p = s.partition(4);
            assert!((0..4).contains(&p));
            seen[p as usize] = true;
            s.record_sent(300, 4);
        }
        assert!(
            seen.iter().all(|&b| b),
            "every partition gets unkeyed traffic"
        );
        // One partition: always 0.
        let mut one = StickyPartitioner::new(1);
        for _ in 0..10 {
            assert_eq!(one.partition(1), 0);
            one.record_sent(10, 1);
        }
    }
}
