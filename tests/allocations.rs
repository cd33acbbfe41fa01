//! Heap allocations per request on `/api/time`, counted by this test binary's
//! own global allocator. musl's malloc costs several hundred instructions a
//! call, so the request path allocates only the body, once, and hyper's
//! header-read timer, which hyper boxes anew for every request (README,
//! Performance).

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::{start, within};

/// Counts allocations and reallocations, then lets the system allocator do them.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed on unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: the caller's guarantees, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's guarantees, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: the caller's guarantees, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

const GET: &[u8] = b"GET /api/time HTTP/1.1\r\nHost: x\r\n\r\n";

/// Sends one GET on `stream` and reads its whole response into `buffer`,
/// allocating nothing itself.
async fn get(stream: &mut TcpStream, buffer: &mut [u8]) {
    stream.write_all(GET).await.unwrap();
    let mut read = 0;
    // The body is the last thing sent and ends in "}".
    while !buffer[..read].ends_with(b"}") {
        let n = stream.read(&mut buffer[read..]).await.unwrap();
        assert!(n > 0, "connection closed");
        read += n;
    }
}

#[tokio::test]
async fn time_api_allocates_its_body_and_hypers_timer_only() {
    const REQUESTS: u64 = 200;
    let server = start().await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut buffer = vec![0; 4096];
    // The first requests size hyper's buffers and the header map.
    for _ in 0..10 {
        within("warm-up request", get(&mut stream, &mut buffer)).await;
    }
    let before = ALLOCATIONS.load(Relaxed);
    for _ in 0..REQUESTS {
        within("request", get(&mut stream, &mut buffer)).await;
    }
    let allocations = ALLOCATIONS.load(Relaxed) - before;
    eprintln!("{allocations} allocations for {REQUESTS} requests");
    // Two per request, the body and hyper's timer; a little slack for
    // buffers that grow once (the access log's batch) and the runtime's own.
    assert!(
        allocations <= 2 * REQUESTS + REQUESTS / 20,
        "{allocations} allocations for {REQUESTS} requests"
    );
    drop(stream);
    server.stop().await;
}
