//! A tokio service that offloads CPU-bound work to a pool of processes (needs the `tokio`
//! feature: `cargo run --example tokio_service --features tokio`).
//!
//! The service answers one request per line on TCP: `primes N` counts the primes below `N`
//! in a pool worker, awaited with `.await` so the runtime's threads stay free; `ping` is
//! answered at once, even while every worker is busy. Three clients in this same program
//! send their requests at the same time, then the service stops and the pool is closed.

use std::sync::Arc;

use multiproc::Pool;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The work: count the primes below `n`, by trial division (slow on purpose).
fn count_primes(n: u64) -> u64 {
    (2..n)
        .filter(|&k| (2..).take_while(|d| d * d <= k).all(|d| k % d != 0))
        .count() as u64
}

/// Answers one request line.
async fn answer(pool: &Pool, line: &str) -> String {
    match line.split_once(' ') {
        None if line == "ping" => "pong".to_owned(),
        Some(("primes", n)) => match n.parse::<u64>() {
            // The work runs in a worker process; this task waits without holding a thread.
            Ok(n) => match pool.apply_async(count_primes, n) {
                Ok(result) => match result.await {
                    Ok(count) => format!("primes below {n}: {count}"),
                    Err(e) => format!("error: {e}"),
                },
                Err(e) => format!("error: {e}"),
            },
            Err(_) => format!("error: not a number: {n}"),
        },
        _ => format!("error: unknown request: {line}"),
    }
}

/// Serves one client: one answer line per request line.
async fn serve(pool: Arc<Pool>, stream: TcpStream) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await? {
        let reply = answer(&pool, line.trim()).await;
        write.write_all(format!("{reply}\n").as_bytes()).await?;
    }
    Ok(())
}

/// A client: sends `requests`, returns the answers in order.
async fn client(addr: std::net::SocketAddr, requests: Vec<String>) -> std::io::Result<Vec<String>> {
    let stream = TcpStream::connect(addr).await?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut answers = Vec::new();
    for r in requests {
        write.write_all(format!("{r}\n").as_bytes()).await?;
        answers.push(lines.next_line().await?.unwrap_or_default());
    }
    Ok(answers)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Starting the workers takes a few milliseconds: do it once, at start-up.
    let pool = Arc::new(Pool::new(2)?);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!("service listening");

    let server = tokio::spawn({
        let pool = pool.clone();
        async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                tokio::spawn(serve(pool.clone(), stream));
            }
        }
    });

    // Three clients at once: six jobs for two workers.
    let clients: Vec<_> = (1..=3u64)
        .map(|i| {
            let requests = vec![
                format!("primes {}", 10_000 * i),
                format!("primes {}", 20_000 * i),
            ];
            tokio::spawn(client(addr, requests))
        })
        .collect();
    // Answered at once, busy workers or not: it needs none.
    let ping = client(addr, vec!["ping".into()]).await?;
    println!("ping: {}", ping[0]);
    for (i, c) in clients.into_iter().enumerate() {
        for answer in c.await?? {
            println!("client {}: {answer}", i + 1);
        }
    }
    let bad = client(addr, vec!["primes many".into(), "fly".into()]).await?;
    println!("bad requests: {}", bad.join("; "));

    server.abort();
    // Python's close() then join(): the workers finish and exit. join() blocks, so it runs
    // on a thread for blocking work.
    pool.close();
    tokio::task::spawn_blocking(move || pool.join()).await?;
    println!("service stopped");
    Ok(())
}
