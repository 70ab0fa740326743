//! A tailing reader: one thread appends while another follows the log end with
//! `wait_for`, as a consumer at the head of a partition does.
//!
//! Run with `cargo run --release --example tail`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tidelog::config::LogConfig;
use tidelog::log::{AppendOptions, Log, LogOpenOptions};
use tidelog::record::Record;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("tidelog-tail-{}", std::process::id()));
    let log = Arc::new(Log::open(
        dir.join("ticks-0"),
        LogConfig::default(),
        LogOpenOptions::default(),
    )?);

    let writer_log = Arc::clone(&log);
    let writer = std::thread::spawn(move || -> tidelog::Result<()> {
        for i in 0..200i64 {
            writer_log.append(
                &[Record::new(i, format!("tick {i}").into_bytes())],
                &AppendOptions::default(),
            )?;
            std::thread::sleep(Duration::from_micros(500));
        }
        Ok(())
    });

    let started = Instant::now();
    let (mut next, mut seen) = (0i64, 0u32);
    while seen < 200 {
        if !log.wait_for(next, Duration::from_secs(5)) {
            return Err("no data for 5 s".into());
        }
        let fetched = log.read(next, 64 * 1024)?;
        for record in fetched.records() {
            let record = record?;
            assert_eq!(record.offset(), next, "every offset once, in order");
            next += 1;
            seen += 1;
        }
    }
    writer.join().map_err(|_| "writer panicked")??;
    println!(
        "followed {seen} appends as they happened, in {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
