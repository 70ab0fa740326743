//! Tests of the seam's real implementation and of [`IndexFile`].

use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::*;
use crate::error::{Error, Result};

fn io_kind(result: Result<impl Sized>) -> Option<ErrorKind> {
    match result {
        Err(Error::Io { source, .. }) => Some(source.kind()),
        _ => None,
    }
}

#[test]
fn open_modes() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let path = dir.path().join("f");
    assert_eq!(
        io_kind(StdFs.open(&path, OpenMode::ReadWrite)),
        Some(ErrorKind::NotFound)
    );
    let file = StdFs.open(&path, OpenMode::CreateNew)?;
    file.write_all_at(b"hello", 0)?;
    assert_eq!(
        io_kind(StdFs.open(&path, OpenMode::CreateNew)),
        Some(ErrorKind::AlreadyExists)
    );
    assert_eq!(StdFs.open(&path, OpenMode::Create)?.size()?, 5);
    let ro = StdFs.open(&path, OpenMode::ReadOnly)?;
    assert!(ro.write_all_at(b"x", 0).is_err());
    assert_eq!(StdFs.open(&path, OpenMode::Truncate)?.size()?, 0);
    assert!(file.fd().is_some());
    assert_eq!(file.path(), path);
    Ok(())
}

#[test]
fn positional_reads_and_writes() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let file = StdFs.open(&dir.path().join("f"), OpenMode::CreateNew)?;
    file.write_all_at(b"0123456789", 0)?;
    file.write_all_at(b"ab", 12)?;
    assert_eq!(file.size()?, 14);
    let mut buf = [0xffu8; 4];
    file.read_exact_at(&mut buf, 9)?;
    assert_eq!(&buf, b"9\0\0a");
    let mut buf = [0u8; 8];
    assert_eq!(file.read_at(&mut buf, 10)?, 4);
    assert_eq!(file.read_at(&mut buf, 100)?, 0);
    assert_eq!(
        io_kind(file.read_exact_at(&mut buf, 10)),
        Some(ErrorKind::UnexpectedEof)
    );
    file.set_len(3)?;
    assert_eq!(file.size()?, 3);
    file.sync_data()?;
    Ok(())
}

#[test]
fn allocate_extends_with_real_blocks() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let path = dir.path().join("f");
    let file = StdFs.open(&path, OpenMode::CreateNew)?;
    file.write_all_at(b"keep", 0)?;
    file.allocate(0, 1 << 20)?;
    assert_eq!(file.size()?, 1 << 20);
    let blocks = std::fs::metadata(&path)
        .map_err(|e| Error::io("metadata", &path, e))?
        .blocks();
    // st_blocks counts 512-byte units: the whole MiB is backed, not a sparse hole.
    assert!(blocks * 512 >= 1 << 20, "{blocks} blocks");
    let mut buf = [0u8; 4];
    file.read_exact_at(&mut buf, 0)?;
    assert_eq!(&buf, b"keep");
    // A range inside the file changes neither length nor content.
    file.allocate(0, 4)?;
    assert_eq!(file.size()?, 1 << 20);
    Ok(())
}

#[test]
fn namespace_operations() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let sub = dir.path().join("a/b");
    StdFs.create_dir_all(&sub)?;
    let (x, y) = (sub.join("x"), sub.join("y"));
    StdFs
        .open(&x, OpenMode::CreateNew)?
        .write_all_at(b"12345", 0)?;
    assert!(StdFs.exists(&x)?);
    assert_eq!(StdFs.file_len(&x)?, 5);
    StdFs.rename(&x, &y)?;
    StdFs.sync_dir(&sub)?;
    assert!(!StdFs.exists(&x)?);
    assert_eq!(StdFs.read_dir(&sub)?, vec![std::ffi::OsString::from("y")]);
    StdFs.remove_file(&y)?;
    assert_eq!(io_kind(StdFs.remove_file(&y)), Some(ErrorKind::NotFound));
    StdFs.remove_dir_all(&dir.path().join("a"))?;
    assert!(!StdFs.exists(&sub)?);
    Ok(())
}

#[test]
fn mapping_is_bounded_by_the_file_and_writes_through() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let file = StdFs.open(&dir.path().join("f"), OpenMode::CreateNew)?;
    assert!(matches!(
        StdFs.map_mut(&file, 0),
        Err(Error::InvalidArgument(_))
    ));
    file.allocate(0, 4096)?;
    assert!(matches!(
        StdFs.map_mut(&file, 4097),
        Err(Error::InvalidArgument(_))
    ));
    let mut map = StdFs.map_mut(&file, 4096)?;
    map[100..104].copy_from_slice(b"tide");
    map.flush()?;
    let mut buf = [0u8; 4];
    file.read_exact_at(&mut buf, 100)?;
    assert_eq!(&buf, b"tide");
    Ok(())
}

type File8 = IndexFile<StdFs, 8>;

fn push(index: &File8, value: u64) -> Result<bool> {
    index.append_with(|_, _| Ok(Some(value.to_be_bytes())))
}

fn values(index: &File8) -> Vec<u64> {
    index.with_entries(|e| e.iter().map(|s| u64::from_be_bytes(*s)).collect())
}

#[test]
fn index_file_grows_in_steps_up_to_the_max() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let path = dir.path().join("i");
    // 20000 bytes → 2500 entries: steps of 512, 1024, 2048, then the max.
    let index = File8::create(&StdFs, &path, 20_003)?;
    assert_eq!(index.max_entries(), 2500);
    assert_eq!(index.file_len(), INITIAL_BYTES as u64);
    let mut lengths = vec![index.file_len()];
    for v in 1..=2500u64 {
        assert!(!index.is_full());
        assert!(push(&index, v)?);
        if *lengths.last().unwrap_or(&0) != index.file_len() {
            lengths.push(index.file_len());
        }
    }
    assert_eq!(lengths, [4096, 8192, 16384, 20000]);
    assert!(index.is_full());
    assert!(matches!(push(&index, 2501), Err(Error::InvalidArgument(_))));
    assert_eq!(std::fs::metadata(&path).map(|m| m.len()).ok(), Some(20_000));
    assert_eq!(values(&index), (1..=2500).collect::<Vec<_>>());
    Ok(())
}

#[test]
fn index_file_trim_reopen_and_zero_tail() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let path = dir.path().join("i");
    let index = File8::create(&StdFs, &path, 1 << 20)?;
    for v in 1..=10u64 {
        push(&index, v)?;
    }
    index.sync()?;
    drop(index); // a crash: untrimmed, zero tail
    assert_eq!(StdFs.file_len(&path)?, INITIAL_BYTES as u64);
    let index = File8::open(&StdFs, &path, 1 << 20, IndexAccess::ReadWrite)?;
    assert_eq!(values(&index), (1..=10).collect::<Vec<_>>());
    index.truncate_entries(7)?;
    push(&index, 99)?;
    // The first write after opening cut the zero tail; the freed slots still had room.
    assert_eq!(index.file_len(), 10 * 8);
    index.close()?;
    assert_eq!(StdFs.file_len(&path)?, 8 * 8);
    let ro = File8::open(&StdFs, &path, 1 << 20, IndexAccess::ReadOnly)?;
    assert_eq!(values(&ro), [1, 2, 3, 4, 5, 6, 7, 99]);
    assert!(matches!(push(&ro, 100), Err(Error::InvalidArgument(_))));
    assert!(ro.trim().is_err());
    ro.close()?;
    Ok(())
}

#[test]
fn truncation_zeroes_dropped_slots() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let path = dir.path().join("i");
    let index = File8::create(&StdFs, &path, 1 << 20)?;
    for v in 1..=10u64 {
        push(&index, v)?;
    }
    index.truncate_entries(4)?;
    index.sync()?;
    drop(index);
    let again = File8::open(&StdFs, &path, 1 << 20, IndexAccess::ReadWrite)?;
    assert_eq!(values(&again), [1, 2, 3, 4]);
    Ok(())
}

#[test]
fn read_only_load_stops_at_the_zero_tail_of_a_large_file() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let path = dir.path().join("i");
    let file = StdFs.open(&path, OpenMode::CreateNew)?;
    // Kafka's preallocated 10 MiB file with 9000 entries (more than one load chunk).
    file.set_len(10 << 20)?;
    let entries: Vec<u8> = (1..=9000u64).flat_map(|v| v.to_be_bytes()).collect();
    file.write_all_at(&entries, 0)?;
    let ro = File8::open(&StdFs, &path, 10 << 20, IndexAccess::ReadOnly)?;
    assert_eq!(ro.len(), 9000);
    assert_eq!(ro.file_len(), 10 << 20);
    let rw = File8::open(&StdFs, &path, 10 << 20, IndexAccess::ReadWrite)?;
    assert_eq!(values(&rw), values(&ro));
    Ok(())
}

#[test]
fn count_valid_rule() {
    let mut bytes = vec![0u8; 8 * 5];
    assert_eq!(count_valid_of(&bytes), 0);
    bytes[7] = 1;
    bytes[15] = 2;
    assert_eq!(count_valid_of(&bytes), 2);
    assert_eq!(count_valid_of(&bytes[..15]), 1);
    // A last slot that holds an entry marks a trimmed file: every slot is an entry (a zero
    // one in the middle is damage, which lookups, checked against the log, get past).
    bytes[39] = 9;
    assert_eq!(count_valid_of(&bytes), 5);
}

#[test]
fn count_valid_finds_the_end_of_a_long_preallocated_file() {
    for entries in [0usize, 1, 2, 3, 100, 511, 512] {
        let mut bytes = vec![0u8; 8 * 512];
        for i in 0..entries {
            bytes[i * 8 + 7] = 1 + (i % 200) as u8;
        }
        let want = if entries == 512 { 512 } else { entries };
        assert_eq!(count_valid_of(&bytes), want, "{entries} entries");
    }
}

#[test]
fn count_valid_keeps_an_all_zero_first_entry() {
    // (timestamp 0, relative offset 0) is a real first time-index entry: all zero bytes.
    let mut bytes = vec![0u8; 8 * 5];
    bytes[15] = 2;
    bytes[23] = 3;
    assert_eq!(
        count_valid_of(&bytes),
        3,
        "a zero slot 0 followed by entries"
    );
    // Alone: an entry if the file was trimmed to it, nothing in a preallocated file.
    assert_eq!(index_file::count_valid::<8>(&bytes[..8], 8), 1);
    assert_eq!(index_file::count_valid::<8>(&bytes[..8], 4096), 0);
}

#[test]
fn a_trimmed_index_of_one_zero_entry_loads_both_ways() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let path = dir.path().join("00000000000000000000.timeindex");
    let write =
        |bytes: &[u8]| std::fs::write(&path, bytes).map_err(|e| Error::io("write", &path, e));
    write(&[0u8; 8])?;
    for access in [IndexAccess::ReadOnly, IndexAccess::ReadWrite] {
        assert_eq!(
            File8::open(&StdFs, &path, 10 << 20, access)?.len(),
            1,
            "{access:?}"
        );
    }
    let mut bytes = vec![0u8; 8 * 3];
    bytes[15] = 1;
    write(&bytes)?;
    for access in [IndexAccess::ReadOnly, IndexAccess::ReadWrite] {
        assert_eq!(
            File8::open(&StdFs, &path, 10 << 20, access)?.len(),
            2,
            "{access:?}"
        );
    }
    Ok(())
}

fn count_valid_of(bytes: &[u8]) -> usize {
    index_file::count_valid::<8>(bytes, 4096)
}

#[test]
fn partition_point_matches_a_linear_scan() {
    for n in [0usize, 1, 2, 3, 1023, 1024, 1025, 1026, 5000] {
        let entries: Vec<[u8; 8]> = (0..n as u64).map(|v| (v * 2).to_be_bytes()).collect();
        for target in [0u64, 1, 2, 3, 1000, 2047, 2048, 2049, 4000, 9999, 10_001] {
            let want = entries
                .iter()
                .filter(|e| u64::from_be_bytes(**e) <= target)
                .count();
            let got = partition_point(&entries, |e| u64::from_be_bytes(*e) <= target);
            assert_eq!(got, want, "n {n} target {target}");
        }
    }
}

#[test]
fn create_refuses_an_existing_file() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let path: &Path = &dir.path().join("i");
    std::fs::write(path, b"x").map_err(|e| Error::io("write", path, e))?;
    assert_eq!(
        io_kind(File8::create(&StdFs, path, 1 << 20)),
        Some(ErrorKind::AlreadyExists)
    );
    // And the existing file is left alone.
    assert_eq!(StdFs.file_len(path)?, 1);
    Ok(())
}

#[test]
fn zero_max_is_always_full() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let index = File8::create(&StdFs, &dir.path().join("i"), 4)?;
    assert!(index.is_full());
    assert!(push(&index, 1).is_err());
    assert_eq!(index.file_len(), 0);
    index.close()?;
    Ok(())
}

#[test]
fn two_part_writes_land_contiguously() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let file = StdFs.open(&dir.path().join("f"), OpenMode::CreateNew)?;
    file.write_all_at2(b"head", b"", 0)?;
    file.write_all_at2(b"", b"tail", 4)?;
    file.write_all_at2(b"-one-", b"-two-", 8)?;
    // Large enough that the kernel may split it: the loop must finish the write.
    let big = vec![7u8; 3 << 20];
    file.write_all_at2(b"x", &big, 18)?;
    assert_eq!(file.size()?, 18 + 1 + big.len() as u64);
    let mut got = vec![0u8; 19];
    file.read_exact_at(&mut got, 0)?;
    assert_eq!(&got, b"headtail-one--two-x");
    let ro = StdFs.open(&dir.path().join("f"), OpenMode::ReadOnly)?;
    assert!(ro.write_all_at2(b"a", b"b", 0).is_err());
    Ok(())
}
