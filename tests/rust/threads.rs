//! A static Rust program that starts threads: what Rust's runtime needs of
//! the kernel (poll on fds 0-2 and sigaltstack at start, clone3 or clone,
//! futex-based Mutex, Condvar and channels, thread-local storage, a
//! panicking thread unwinding). Compiled by tests/threads.rs with rustc;
//! its output must equal a native run's.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread;
use std::time::Duration;

thread_local! {
    static MINE: Cell<u64> = const { Cell::new(0) };
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(8);
    // Workers: each sums its range into a shared total, and sends its
    // thread-local result over a channel.
    let total = Arc::new(Mutex::new(0u64));
    let (tx, rx) = mpsc::channel();
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (total, tx, barrier) = (total.clone(), tx.clone(), barrier.clone());
            thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || {
                    barrier.wait();
                    let lo = i as u64 * 100_000;
                    let s: u64 = (lo..lo + 100_000).sum();
                    MINE.with(|m| m.set(s));
                    *total.lock().unwrap() += s;
                    tx.send((i, MINE.with(|m| m.get()))).unwrap();
                    thread::current().name().unwrap().len()
                })
                .unwrap()
        })
        .collect();
    drop(tx);
    let mut got: Vec<(usize, u64)> = rx.iter().collect();
    got.sort();
    let names: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let m = n as u64 * 100_000;
    println!("threads={n} total={} expected={} messages={} names={names}", *total.lock().unwrap(), m * (m - 1) / 2, got.len());
    println!("main tls untouched: {}", MINE.with(|m| m.get()));

    // A condition variable with a timeout, then a notified wait.
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let (lock, cv) = &*pair;
    let r = cv.wait_timeout(lock.lock().unwrap(), Duration::from_millis(20)).unwrap();
    println!("wait_timeout timed_out={}", r.1.timed_out());
    drop(r);
    let p2 = pair.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(10));
        *p2.0.lock().unwrap() = true;
        p2.1.notify_one();
    });
    let mut ready = lock.lock().unwrap();
    while !*ready {
        ready = cv.wait(ready).unwrap();
    }
    drop(ready);
    t.join().unwrap();
    println!("notified");

    // A spinning thread does not starve the others.
    // The sleepers start only once the spinner is spinning: otherwise a
    // busy host may run them all before the spinner's first turn.
    let stop = Arc::new(AtomicUsize::new(0));
    let spinning = Arc::new(AtomicUsize::new(0));
    let (s2, sp2) = (stop.clone(), spinning.clone());
    let spinner = thread::spawn(move || {
        let mut spins = 0u64;
        while s2.load(Ordering::Relaxed) == 0 {
            spins = spins.wrapping_add(1);
            sp2.store(1, Ordering::Relaxed);
            std::hint::spin_loop();
        }
        spins > 0
    });
    while spinning.load(Ordering::Relaxed) == 0 {
        thread::yield_now();
    }
    let sleepers: Vec<_> = (0..3).map(|i| thread::spawn(move || {
        thread::sleep(Duration::from_millis(5));
        i
    })).collect();
    let s: i32 = sleepers.into_iter().map(|h| h.join().unwrap()).sum();
    stop.store(1, Ordering::Relaxed);
    println!("spinner spun={} sleepers={s}", spinner.join().unwrap());

    // A panic in a thread unwinds and reaches join.
    std::panic::set_hook(Box::new(|_| {}));
    let r = thread::spawn(|| {
        if MINE.with(|m| m.get()) == 0 {
            panic!("boom");
        }
    })
    .join();
    println!("panicked thread joined: err={}", r.is_err());
    std::process::exit(3);
}
