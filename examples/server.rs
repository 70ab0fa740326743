//! A server sketch: a tiny line protocol over `std::net` that serves a partition's batches
//! with zero copy (`read_raw` + `copy_to`, i.e. `sendfile` from the page cache to the socket).
//!
//! Protocol, one request per line: `FETCH <offset> <max_bytes>` answers with a line
//! `OK <next_offset> <bytes>` followed by that many bytes of whole Kafka record batches (what
//! a Kafka Fetch response carries), or `ERR <message>`. The example serves one client and
//! then exits; run it with `cargo run --release --example server`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use tidelog::config::LogConfig;
use tidelog::log::{AppendOptions, Log, LogOpenOptions};
use tidelog::record::{Record, RecordBatch};
use tidelog::Compression;

fn serve(log: &Log, stream: TcpStream) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    for line in BufReader::new(stream).lines() {
        let line = line?;
        let mut parts = line.split_whitespace();
        let reply = match (parts.next(), parts.next(), parts.next()) {
            (Some("FETCH"), Some(offset), Some(max)) => {
                match (offset.parse::<i64>(), max.parse::<usize>()) {
                    (Ok(offset), Ok(max)) => match log.read_raw(offset, max) {
                        Ok(slice) => {
                            // The offset after the slice's last batch, from the slice itself:
                            // asking the log again could count batches appended since, which
                            // the client would then skip.
                            let next = slice.next_offset();
                            writeln!(out, "OK {next} {}", slice.len())?;
                            out.flush()?;
                            slice.copy_to(&out).map_err(std::io::Error::other)?;
                            continue;
                        }
                        Err(e) => format!("ERR {e}"),
                    },
                    _ => "ERR bad number".to_string(),
                }
            }
            (Some("QUIT"), ..) => break,
            _ => "ERR expected FETCH <offset> <max_bytes>".to_string(),
        };
        writeln!(out, "{reply}")?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile_dir()?;
    let log = Arc::new(Log::open(
        dir.join("events-0"),
        LogConfig::default(),
        LogOpenOptions::default(),
    )?);
    for i in 0..10 {
        let batch: Vec<Record> = (0..100)
            .map(|j| {
                Record::new(
                    1_700_000_000_000 + i * 100 + j,
                    format!("event {}", i * 100 + j).into_bytes(),
                )
            })
            .collect();
        log.append(&batch, &AppendOptions::with_compression(Compression::Lz4))?;
    }

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server_log = Arc::clone(&log);
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let (stream, _) = listener.accept()?;
        serve(&server_log, stream)
    });

    // A client: fetch everything in 4 KiB requests and decode the batches it receives.
    let stream = TcpStream::connect(addr)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let (mut offset, mut records, mut bytes) = (0i64, 0usize, 0usize);
    while offset < log.end_offset() {
        writeln!(writer, "FETCH {offset} 4096")?;
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let fields: Vec<&str> = header.split_whitespace().collect();
        let ["OK", next, len] = fields.as_slice() else {
            return Err(format!("server said: {header}").into());
        };
        let mut data = vec![0u8; len.parse()?];
        reader.read_exact(&mut data)?;
        bytes += data.len();
        let mut pos = 0;
        let mut scratch = Vec::new();
        while pos < data.len() {
            let batch = RecordBatch::parse(&data[pos..])?;
            records += batch
                .records(&mut scratch, 1 << 20)?
                .filter(|r| r.as_ref().is_ok_and(|r| r.offset() >= offset))
                .count();
            pos += batch.size();
        }
        offset = next.parse()?;
    }
    writeln!(writer, "QUIT")?;
    server.join().map_err(|_| "server thread panicked")??;
    println!("fetched {records} records in {bytes} bytes of lz4 batches, sent with sendfile");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("tidelog-server-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
