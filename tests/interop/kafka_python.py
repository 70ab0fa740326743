#!/usr/bin/env python3
"""Independent check of tidelog's record format with kafka-python's own codec.

Two commands, both speaking a canonical text form: one line per record,
`offset timestamp key value [hkey=hvalue ...]`, where bytes are `x` + lowercase hex
(`x` alone is empty) and `-` is null.

  decode FILE          print the canonical form of every batch in FILE (concatenated
                       batches, as in a segment file), decoded and CRC-checked by
                       kafka-python; one batch line before each batch's records:
                         magic 2:   `batch magic=2 codec=C base=B count=N last_delta=D
                                    leader_epoch=E crc=XXXXXXXX ts_type=T first_ts=F max_ts=M
                                    producer=ID/EPOCH/SEQ txn=0|1 control=0|1` (one line)
                         magic 0/1: `batch magic=M codec=C base=B count=N crc=XXXXXXXX ts_type=T`
                       where C is none/gzip/snappy/lz4/zstd, T is create, append or none
                       (magic 0), the CRC is the stored one in 8 lowercase hex digits, and B
                       is the header's BaseOffset for magic 2 but the first record's offset
                       for magic 0/1 (a legacy wrapper's header holds its last offset).
  write DIR            write DIR/NAME.bin (a file of batches written by kafka-python) and
                       DIR/NAME.txt (the canonical form of the records it was given) for
                       every magic and codec kafka-python supports, plus Java-style frames
                       (LZ4 and zstd without a content size).

kafka-python is looser than Kafka in places (FORMAT.md section 9.12): tidelog's own tests
check the strict rules; this script checks that the bytes mean the same thing to both.
"""
import struct
import sys

from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.legacy_records import LegacyRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords
from kafka.record._crc32c import crc as crc32c

CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def fmt_bytes(b):
    return "-" if b is None else "x" + bytes(b).hex()


def fmt_record(offset, timestamp, key, value, headers):
    # kafka-python reports a magic-0 record's missing timestamp as None; Kafka says -1.
    timestamp = -1 if timestamp is None else timestamp
    parts = [str(offset), str(timestamp), fmt_bytes(key), fmt_bytes(value)]
    for hk, hv in headers:
        parts.append(fmt_bytes(hk.encode("utf-8")) + "=" + fmt_bytes(hv))
    return " ".join(parts)


TS_TYPES = {None: "none", 0: "create", 1: "append"}


def batch_line(batch, recs):
    codec = CODECS[batch.compression_type]
    if batch.magic >= 2:
        return " ".join([
            f"batch magic=2 codec={codec} base={batch.base_offset} count={len(recs)}",
            f"last_delta={batch.last_offset_delta} leader_epoch={batch.leader_epoch}",
            f"crc={batch.crc:08x} ts_type={TS_TYPES[batch.timestamp_type]}",
            f"first_ts={batch.first_timestamp} max_ts={batch.max_timestamp}",
            f"producer={batch.producer_id}/{batch.producer_epoch}/{batch.base_sequence}",
            f"txn={int(batch.is_transactional)} control={int(batch.is_control_batch)}",
        ])
    # kafka-python's `base_offset` of a legacy wrapper is its header offset: the LAST record's.
    base = recs[0].offset if recs else batch.base_offset
    # The header's CRC is not public; `_crc` keeps it (`_buffer` is the inner set by now).
    return (f"batch magic={batch.magic} codec={codec} base={base} count={len(recs)} "
            f"crc={batch._crc:08x} ts_type={TS_TYPES[batch.timestamp_type]}")


def decode(path):
    with open(path, "rb") as f:
        data = f.read()
    records = MemoryRecords(data)
    out = []
    while records.has_next():
        batch = records.next_batch()
        if not batch.validate_crc():
            raise SystemExit("CRC check failed in " + path)
        recs = list(batch)
        out.append(batch_line(batch, recs))
        for r in recs:
            out.append(fmt_record(r.offset, r.timestamp, r.key, r.value, r.headers))
    if records.valid_bytes() != len(data):
        raise SystemExit(f"{len(data) - records.valid_bytes()} trailing bytes in {path}")
    print("\n".join(out))


def sample_records(n, magic):
    """Deterministic records: null and empty keys and values, headers with repeats."""
    recs = []
    for i in range(n):
        key = None if i % 5 == 0 else (b"" if i % 5 == 1 else b"key-%d" % i)
        value = None if i % 7 == 3 else (b"" if i % 7 == 4 else (b"value %d " % i) * (1 + i % 9))
        ts = 1_700_000_000_000 + i * 13 - (i % 3) * 50  # not monotonic: negative deltas
        headers = []
        if magic >= 2:
            headers = [("h", b"1"), ("h", None), ("trace-%d" % (i % 2), b"")][: i % 4]
        recs.append((ts, key, value, headers))
    return recs


def build_v2(codec, recs, base_offset, producer=(-1, -1, -1)):
    b = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=False,
                                  producer_id=producer[0], producer_epoch=producer[1],
                                  base_sequence=producer[2], batch_size=1 << 30)
    for i, (ts, k, v, h) in enumerate(recs):
        b.append(i, timestamp=ts, key=k, value=v, headers=h)
    buf = bytearray(b.build())
    struct.pack_into(">q", buf, 0, base_offset)  # the base offset is not covered by the CRC
    return bytes(buf)


def build_legacy(magic, codec, recs, base_offset):
    """A legacy entry as a broker stores it: absolute offsets (v0) or relative inner offsets
    under a wrapper holding the last absolute offset (v1)."""
    b = LegacyRecordBatchBuilder(magic=magic, compression_type=codec, batch_size=1 << 30)
    n = len(recs)
    for i, (ts, k, v, _h) in enumerate(recs):
        inner = i if (codec and magic == 1) else base_offset + i
        b.append(inner, timestamp=ts if magic else None, key=k, value=v)
    buf = bytearray(b.build())
    if codec:
        struct.pack_into(">q", buf, 0, base_offset + n - 1)
    return bytes(buf)


def expected(recs, base_offset, magic):
    lines = []
    for i, (ts, k, v, h) in enumerate(recs):
        lines.append(fmt_record(base_offset + i, ts if magic else -1, k, v, h))
    return lines


def java_style_v2(codec, recs, base_offset):
    """Re-frames an uncompressed kafka-python batch as Kafka's Java producer would: LZ4 frame
    without content size (FLG 0x60, BD 0x40) or a streaming zstd frame without content size."""
    raw = bytearray(build_v2(0, recs, base_offset))
    section = bytes(raw[61:])
    if codec == 3:
        import lz4.frame
        comp = lz4.frame.compress(section, block_size=lz4.frame.BLOCKSIZE_MAX64KB,
                                  block_linked=False, content_checksum=False,
                                  store_size=False)
        assert comp[4] == 0x60 and comp[5] == 0x40, comp[:7].hex()
    else:
        import zstandard
        comp = zstandard.ZstdCompressor(write_content_size=False).compress(section)
        assert zstandard.frame_content_size(comp) == -1
    buf = raw[:61] + comp
    struct.pack_into(">i", buf, 8, len(buf) - 12)
    attrs = struct.unpack_from(">h", buf, 21)[0] | codec
    struct.pack_into(">h", buf, 21, attrs)
    struct.pack_into(">I", buf, 17, crc32c(bytes(buf[21:])))
    return bytes(buf)


def write(outdir):
    import os
    cases = []
    for codec in (0, 1, 2, 3, 4):
        recs = sample_records(40, 2)
        cases.append((f"v2-{CODECS[codec]}", [(build_v2(codec, recs, 100), expected(recs, 100, 2))]))
        # Two batches in one file, the second with producer fields set.
        r1, r2 = sample_records(3, 2), sample_records(5, 2)
        cases.append((f"v2-{CODECS[codec]}-two", [
            (build_v2(codec, r1, 0), expected(r1, 0, 2)),
            (build_v2(codec, r2, 3, (42, 1, 7)), expected(r2, 3, 2)),
        ]))
    for codec in (3, 4):
        recs = sample_records(30, 2)
        cases.append((f"v2-{CODECS[codec]}-java", [(java_style_v2(codec, recs, 7), expected(recs, 7, 2))]))
    for magic in (0, 1):
        for codec in (0, 1, 2, 3):
            recs = sample_records(12, magic)
            if codec == 0:
                # Uncompressed legacy entries are one message each.
                parts = [(build_legacy(magic, 0, [r], 50 + i), expected([r], 50 + i, magic))
                         for i, r in enumerate(recs)]
            else:
                parts = [(build_legacy(magic, codec, recs, 50), expected(recs, 50, magic))]
            cases.append((f"v{magic}-{CODECS[codec]}", parts))
    for name, parts in cases:
        with open(os.path.join(outdir, name + ".bin"), "wb") as f:
            for data, _ in parts:
                f.write(data)
        with open(os.path.join(outdir, name + ".txt"), "w") as f:
            for _, lines in parts:
                for line in lines:
                    f.write(line + "\n")
    print(len(cases))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("decode", "write"):
        raise SystemExit(__doc__)
    {"decode": decode, "write": write}[sys.argv[1]](sys.argv[2])
