#!/usr/bin/env python3
"""Independent check of tidelog's record format with kafka-python's own codec.

Three commands, all speaking a canonical text form: one line per record,
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
  checkdir DIR INTERVAL [--closed-at OFFSET | --recovered-at OFFSET ...]
                       check a whole partition directory against Kafka's rules (FORMAT.md
                       sections 4, 5 and 7), independently of tidelog's code, and print the
                       record lines (no batch lines) of every record of every segment:
                       - `*.log` names are 20-digit base offsets; each has its `.index` and
                         `.timeindex`; no leftover `.deleted`/`.cleaned`/`.swap`/`.tmp`;
                       - every batch decodes and passes its CRC in kafka-python, is magic 2,
                         holds offsets base..last exactly, and has MaxTimestamp = the largest
                         record timestamp (CreateTime);
                       - batches are contiguous within and across segments, and each segment's
                         base offset is its first batch's base (an empty segment's base is the
                         previous segment's next offset);
                       - `.index` and `.timeindex` equal byte for byte the entries recomputed
                         from the batches with INTERVAL (index.interval.bytes) by Kafka's
                         per-batch rule, plus the time index's final entry at roll/close, and
                         are trimmed (entries x 8 / x 12 bytes);
                       - `leader-epoch-checkpoint` parses and lists (epoch, first offset) for
                         each increase of the batches' partition leader epochs.
                       A log closed and reopened keeps what its indexes held at the close:
                       `--closed-at OFFSET` says the log was closed when its end offset was
                       OFFSET, then reopened as is and appended to, so the segment active then
                       has Kafka's close-time entry (`maybeAppend` of its running max) there;
                       `--recovered-at OFFSET` says that segment was instead recovered there
                       (`LogSegment.recover`: time index rebuilt from its batches, then that
                       same final entry). The offset index, though, is expected to follow the
                       rule across a reopen, as a rebuild from the file gives it: a Kafka
                       broker restarts its byte counter at 0 when it opens a segment, so its
                       first entries after a restart can come later than that. Failures go to
                       stderr (`FAIL: ...`) with exit status 1; a `summary ...` line of counts
                       goes to stderr either way.
  write DIR            write DIR/NAME.bin (a file of batches written by kafka-python) and
                       DIR/NAME.txt (the canonical form of the records it was given) for
                       every magic and codec kafka-python supports, plus Java-style frames
                       (LZ4 and zstd without a content size).

kafka-python is looser than Kafka in places (FORMAT.md section 9.12): tidelog's own tests
check the strict rules; this script checks that the bytes mean the same thing to both.
"""
import os
import re
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


# ---------------------------------------------------------------------------------------
# checkdir: a whole partition directory.

SEGMENT_FILE = re.compile(r"^(\d{20})\.(log|index|timeindex|txnindex|snapshot)$")
LEADER_EPOCH_CHECKPOINT = "leader-epoch-checkpoint"
# Files a partition directory may hold besides segment files (FORMAT.md sections 4 and 7).
OTHER_FILES = {LEADER_EPOCH_CHECKPOINT, "partition.metadata"}


class DirCheck:
    def __init__(self, path, interval, reopened_at):
        self.path = path
        self.interval = interval
        self.reopened_at = reopened_at  # log end offset -> "closed" or "recovered"
        self.failures = []
        self.lines = []
        self.counts = {"segments": 0, "batches": 0, "records": 0, "index_entries": 0,
                       "time_index_entries": 0, "reopen_entries": 0, "epochs": 0}

    def fail(self, msg):
        self.failures.append(msg)

    def run(self):
        names = sorted(os.listdir(self.path))
        bases = {}
        for name in names:
            m = SEGMENT_FILE.match(name)
            if m:
                bases.setdefault(int(m.group(1)), set()).add(m.group(2))
            elif name not in OTHER_FILES:
                # Leftovers (`.deleted`, `.cleaned`, `.swap`, `.tmp`) or anything else.
                self.fail(f"unexpected file {name}")
        logs = sorted(b for b, kinds in bases.items() if "log" in kinds)
        for b, kinds in sorted(bases.items()):
            # A producer snapshot is named for an offset, often the log end: no .log needed.
            orphans = sorted(kinds & {"index", "timeindex", "txnindex"})
            if orphans and "log" not in kinds:
                self.fail(f"{orphans} files for base {b:020d} without a .log")
        batches = []  # every batch of the log, in order
        next_offset = None
        for base in logs:
            seg = f"{base:020d}"
            for kind in ("index", "timeindex"):
                if kind not in bases[base]:
                    self.fail(f"{seg}.{kind} is missing")
            seg_batches = self.read_segment(seg, base, next_offset)
            if seg_batches is None:
                next_offset = None
                continue
            if seg_batches:
                next_offset = seg_batches[-1]["last"] + 1
            elif next_offset is not None and base != next_offset:
                self.fail(f"{seg}.log is empty but its base is not the previous segment's "
                          f"next offset {next_offset}")
            else:
                next_offset = base
            batches.extend(seg_batches)
            self.check_indexes(seg, base, seg_batches)
            self.counts["segments"] += 1
        self.check_epochs(batches)
        if not logs:
            self.fail("no .log files")

    def read_segment(self, seg, base, expected_next):
        """Decodes one `.log`; returns its batches' index-relevant fields, or None if it could
        not be read to the end (its indexes then cannot be checked)."""
        with open(os.path.join(self.path, seg + ".log"), "rb") as f:
            data = f.read()
        records = MemoryRecords(data)
        out = []
        position = 0
        while records.has_next():
            try:
                batch = records.next_batch()
            except Exception as e:  # kafka-python's CorruptRecordError and the like
                self.fail(f"{seg}.log: batch at position {position}: {e}")
                return None
            where = f"{seg}.log: batch at position {position}"
            if batch.magic != 2:
                self.fail(f"{where}: magic {batch.magic}, only magic 2 is checked")
                return None
            if not batch.validate_crc():
                self.fail(f"{where}: CRC check failed")
                return None
            size = batch.size_in_bytes
            length = struct.unpack_from(">i", data, position + 8)[0]
            if size != 12 + length:
                self.fail(f"{where}: size {size} but Length field {length}")
                return None
            try:
                recs = list(batch)
            except Exception as e:
                self.fail(f"{where}: records do not decode: {e}")
                return None
            b = {"position": position, "size": size, "base": batch.base_offset,
                 "last": batch.base_offset + batch.last_offset_delta,
                 "max_ts": batch.max_timestamp, "epoch": batch.leader_epoch}
            offsets = [r.offset for r in recs]
            if offsets != list(range(b["base"], b["last"] + 1)):
                self.fail(f"{where}: record offsets {offsets[:3]}...{offsets[-3:]} are not "
                          f"exactly {b['base']}..={b['last']}")
            if batch.records_count != len(recs):
                self.fail(f"{where}: RecordsCount {batch.records_count}, {len(recs)} records")
            if batch.timestamp_type == 0 and recs:
                top = max(r.timestamp for r in recs)
                if top != b["max_ts"]:
                    self.fail(f"{where}: MaxTimestamp {b['max_ts']}, largest record "
                              f"timestamp {top}")
            if not out:
                if b["base"] != base:
                    self.fail(f"{seg}.log: first batch has base offset {b['base']}, "
                              f"not the segment's base {base}")
                if expected_next is not None and b["base"] != expected_next:
                    self.fail(f"{seg}.log: first batch starts at offset {b['base']}, the "
                              f"previous segment ends before {expected_next}")
            elif b["base"] != out[-1]["last"] + 1:
                self.fail(f"{where}: base offset {b['base']} does not follow the previous "
                          f"batch's last offset {out[-1]['last']}")
            for r in recs:
                self.lines.append(fmt_record(r.offset, r.timestamp, r.key, r.value, r.headers))
            self.counts["batches"] += 1
            self.counts["records"] += len(recs)
            out.append(b)
            position += size
        if records.valid_bytes() != len(data) or position != len(data):
            self.fail(f"{seg}.log: {len(data) - position} bytes after the last whole batch "
                      f"at position {position}")
        return out

    def expected_indexes(self, base, batches, reopens=True):
        """Kafka's `LogSegment.append` rule per batch (FORMAT.md section 5), the entries left
        by `--closed-at`/`--recovered-at` reopens (unless `reopens` is false), and the final
        entry of roll/close. Returns both indexes' entries and whether the final entry was
        one more."""
        index, time_index = [], []
        last_indexed = 0  # position of the last indexed batch; the segment start at first
        max_ts, offset_of_max = -1, base

        def maybe_append(ts, off):
            # TimeIndex.maybeAppend: only a timestamp above the last entry's (initially -1).
            if ts > (time_index[-1][0] if time_index else -1):
                time_index.append((ts, off))
                return True
            return False

        for i, b in enumerate(batches):
            if b["max_ts"] > max_ts:
                max_ts, offset_of_max = b["max_ts"], b["last"]
            # Checked before the batch's bytes count: the bytes since the last indexed batch's
            # start, i.e. this batch's start minus that one's.
            if b["position"] - last_indexed > self.interval:
                index.append((b["last"], b["position"]))
                maybe_append(max_ts, offset_of_max)
                last_indexed = b["position"]
            event = self.reopened_at.get(b["last"] + 1) if reopens else None
            if event == "recovered":
                # LogSegment.recover: both indexes rebuilt from the batches (earlier close
                # entries of this segment are gone), then the close-style final entry.
                _, time_index, added = self.expected_indexes(base, batches[:i + 1], False)
            elif event == "closed":
                added = maybe_append(max_ts, offset_of_max)
            else:
                added = False
            # Counts reopen entries that differ from what the rule alone gives.
            self.counts["reopen_entries"] += int(added and b is not batches[-1])
        return index, time_index, maybe_append(max_ts, offset_of_max)

    def check_indexes(self, seg, base, batches):
        index, time_index, _ = self.expected_indexes(base, batches)
        self.counts["index_entries"] += len(index)
        self.counts["time_index_entries"] += len(time_index)
        expected = {
            "index": (b"".join(struct.pack(">ii", off - base, pos) for off, pos in index), 8,
                      lambda e: "(offset %d, position %d)" % (
                          base + struct.unpack(">i", e[:4])[0], struct.unpack(">i", e[4:])[0])),
            "timeindex": (b"".join(struct.pack(">qi", ts, off - base) for ts, off in time_index),
                          12, lambda e: "(timestamp %d, offset %d)" % (
                              struct.unpack(">q", e[:8])[0], base + struct.unpack(">i", e[8:])[0])),
        }
        for kind, (want, size, show) in expected.items():
            path = os.path.join(self.path, f"{seg}.{kind}")
            if not os.path.exists(path):
                continue  # reported already
            with open(path, "rb") as f:
                got = f.read()
            name = f"{seg}.{kind}"
            if len(got) != len(want):
                self.fail(f"{name}: {len(got)} bytes, expected {len(want)} "
                          f"({len(want) // size} entries x {size}, trimmed)")
            n = max(len(got), len(want)) // size + 1
            for i in range(n):
                e, g = want[i * size:(i + 1) * size], got[i * size:(i + 1) * size]
                if e != g:
                    self.fail(f"{name}: entry {i}: expected "
                              f"{show(e) if len(e) == size else 'none'}, found "
                              f"{show(g) if len(g) == size else 'none'}"
                              f"{' (all zero)' if g and not any(g) else ''}")
                    break

    def check_epochs(self, batches):
        want = []
        for b in batches:
            # Kafka's LeaderEpochFileCache.assign on append and on recovery: a new entry when
            # the epoch is >= 0 and greater than the latest.
            if b["epoch"] >= 0 and (not want or b["epoch"] > want[-1][0]):
                want.append((b["epoch"], b["base"]))
        self.counts["epochs"] = len(want)
        path = os.path.join(self.path, LEADER_EPOCH_CHECKPOINT)
        if not os.path.exists(path):
            if want:
                self.fail(f"{LEADER_EPOCH_CHECKPOINT} is missing; expected {want}")
            return
        with open(path, "rb") as f:
            text = f.read()
        if text == b"":
            got = []  # a 0-byte checkpoint file means no entries
        else:
            try:
                s = text.decode("ascii")
                if not s.endswith("\n"):
                    raise ValueError("no newline at the end")
                lines = s[:-1].split("\n")
                if lines[0] != "0":
                    raise ValueError(f"version line {lines[0]!r}, expected '0'")
                count = int(lines[1])
                if str(count) != lines[1] or count != len(lines) - 2:
                    raise ValueError(f"count line {lines[1]!r} but {len(lines) - 2} entries")
                got = []
                for line in lines[2:]:
                    epoch, offset = line.split(" ")
                    if str(int(epoch)) != epoch or str(int(offset)) != offset:
                        raise ValueError(f"entry {line!r}")
                    got.append((int(epoch), int(offset)))
            except (ValueError, IndexError, UnicodeDecodeError) as e:
                self.fail(f"{LEADER_EPOCH_CHECKPOINT} does not parse ({e}): {text!r}")
                return
        if got != want:
            self.fail(f"{LEADER_EPOCH_CHECKPOINT}: entries {got}, expected {want} from the "
                      f"batches' partition leader epochs")


def checkdir(path, interval, reopened_at):
    check = DirCheck(path, interval, reopened_at)
    check.run()
    if check.lines:
        print("\n".join(check.lines))
    sys.stderr.write("summary " + " ".join(f"{k}={v}" for k, v in check.counts.items()) + "\n")
    for msg in check.failures:
        sys.stderr.write("FAIL: " + msg + "\n")
    if check.failures:
        sys.exit(1)


def main(argv):
    if len(argv) == 3 and argv[1] in ("decode", "write"):
        {"decode": decode, "write": write}[argv[1]](argv[2])
        return
    if len(argv) >= 4 and argv[1] == "checkdir" and len(argv) % 2 == 0:
        reopened_at = {}
        for flag, value in zip(argv[4::2], argv[5::2]):
            if flag not in ("--closed-at", "--recovered-at"):
                raise SystemExit(__doc__)
            reopened_at[int(value)] = flag[2:-3]
        checkdir(argv[2], int(argv[3]), reopened_at)
        return
    raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
