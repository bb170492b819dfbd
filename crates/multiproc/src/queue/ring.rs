//! The queue's storage: a FIFO of byte records in a growable shared-memory region, for any
//! number of producer and consumer processes.
//!
//! # Layout
//!
//! The region starts with a one-page header (configuration, counters, cursors and locks, each
//! group on its own cache line), followed by *segments*. A segment is a page-aligned block with
//! a small header and room for records. Producers append records to the tail segment; when a
//! record does not fit, they take a new segment (from the free list, or by growing the file),
//! write the record there, and leave a *jump* in the old segment that points to the new one.
//! Consumers read records from the head segment, follow jumps, and put finished segments on the
//! free list. A record is `[len: u64][index: u64][payload, padded to 8]`; a jump is
//! `[u64::MAX][index][target]`. The index is the record's position in the queue, counted from 0,
//! and is stored last, so a record whose index is the next expected one is complete.
//!
//! # Concurrency
//!
//! One lock orders producers (it guards the tail cursor) and one orders consumers (the head
//! cursor); a third guards segment allocation. A producer publishes a record by storing
//! `puts` (release); a consumer sees it by loading `puts` (acquire), copies or decodes it in
//! place while it holds the consumer lock, and then stores `gets`. Waiting uses futexes on
//! sequence words with sleeper counts, after a short spin.
//!
//! # Death of a process
//!
//! The locks are the crate's robust lock ([`raw_lock`]), held in the name of a thread: its id
//! tagged with its start time, so that a recycled id does not pass for the dead holder. A
//! waiter that finds the holder dead (it looks every [`raw_lock::CHECK_INTERVAL`]) takes the
//! lock over and repairs the cursor it guards from the records themselves (the stored indices say
//! what was published and what was taken), so a producer or consumer killed at any point does
//! not wedge the queue. A consumer killed while copying a record out leaves that record for the
//! next consumer; one killed after `get` returned has the value, which dies with it. A producer
//! killed before it published a record never put it.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

use crate::shared::mapping::Mapping;
use crate::sync::owner;
use crate::sync::raw_lock;
use crate::sys::futex::{self, Wake};

const MAGIC: u64 = u64::from_le_bytes(*b"mpqring1");
const PAGE: usize = 4096;
const HEADER_LEN: usize = PAGE;

// Header fields (byte offsets). Line 0: configuration, written once.
const H_MAGIC: usize = 0;
const H_FLAGS: usize = 8;
const H_MAP_LEN: usize = 16;
const H_SEGMENT: usize = 24;
const H_MAXSIZE: usize = 32;
// Line 1: producers. A cursor packs a segment's page number and an offset in it.
const H_TAIL_LOCK: usize = 64;
const H_TAIL: usize = 72;
// Line 2: what producers publish.
const H_PUTS: usize = 128;
const H_PUT_SEQ: usize = 136;
const H_PUT_SLEEPERS: usize = 140;
// Line 3: consumers.
const H_HEAD_LOCK: usize = 192;
const H_HEAD: usize = 200;
// Line 4: what consumers publish.
const H_GETS: usize = 256;
const H_GET_SEQ: usize = 264;
const H_GET_SLEEPERS: usize = 268;
// Line 5: segment allocation.
const H_ALLOC_LOCK: usize = 320;
const H_FILE_END: usize = 328;
const H_FREE_HEAD: usize = 336;
const H_FREE_BYTES: usize = 344;
// Line 6: unfinished tasks (JoinableQueue).
const H_UNFINISHED: usize = 384;
const H_DONE_SEQ: usize = 392;
const H_DONE_SLEEPERS: usize = 396;

const FLAG_JOINABLE: u64 = 1;

// Segment header.
const S_SIZE: usize = 0;
const S_FREE_NEXT: usize = 8;
const SEG_HEADER: usize = 64;

// Records. A record's tag is its index plus one, so that zeroed memory is never a record.
const REC_HEADER: usize = 16;
const JUMP: u64 = u64::MAX;
const JUMP_LEN: usize = 24;

/// Free segments kept ready for reuse before their memory is given back.
const KEEP_FREE: u64 = 32 << 20;
/// How many free segments an allocation looks at before growing the file instead.
const FREE_SCAN: usize = 32;
/// The shortest wait for a lock, even for `try_` operations.
const LOCK_GRACE: Duration = Duration::from_millis(5);
/// How long a waiter spins before it sleeps.
const SPIN: Duration = Duration::from_micros(50);

/// The default size of a segment.
pub(crate) const DEFAULT_SEGMENT: usize = 256 * 1024;
/// The default address space reserved for a queue: the most its memory can grow to.
pub(crate) const DEFAULT_MAP_LEN: usize = 64 << 30;
/// The smallest reservation tried when the default one is refused.
const MIN_MAP_LEN: usize = 64 << 20;

/// How a ring is made.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RingConfig {
    /// The most records it holds; 0 for no limit.
    pub(crate) maxsize: u64,
    /// Whether it counts unfinished tasks.
    pub(crate) joinable: bool,
    /// The usual segment size.
    pub(crate) segment: usize,
    /// The most memory it may use (address space reserved).
    pub(crate) map_len: usize,
}

/// Why a record could not be added.
#[derive(Debug)]
pub(crate) enum PushError {
    /// The ring holds `maxsize` records and the deadline passed.
    Full,
    /// The ring could not grow.
    Io(io::Error),
}

/// Why no record could be taken.
#[derive(Debug)]
pub(crate) enum PopError {
    /// Nothing arrived by the deadline.
    Empty,
    /// The shared state is inconsistent (written by something other than this code).
    Corrupt(String),
}

/// What a waiter of a ring waits for.
#[cfg(feature = "tokio")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Awaited {
    /// A record to take.
    Item,
    /// Room in a bounded ring.
    Room,
    /// No unfinished task (a joinable ring).
    AllDone,
}

/// A queue's shared ring, mapped in this process.
#[derive(Debug)]
pub(crate) struct Ring {
    map: Mapping,
    maxsize: u64,
    joinable: bool,
    segment: usize,
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// A cursor: segment `seg` (a byte offset, page-aligned) and offset `off` in its data.
fn pack(seg: usize, off: usize) -> u64 {
    ((seg / PAGE) as u64) << 32 | off as u64
}

fn unpack(cursor: u64) -> (usize, usize) {
    (
        (cursor >> 32) as usize * PAGE,
        (cursor & 0xffff_ffff) as usize,
    )
}

fn record_len(payload: usize) -> usize {
    REC_HEADER + round_up(payload, 8)
}

impl Ring {
    /// Creates a ring.
    pub(crate) fn create(config: RingConfig) -> io::Result<Ring> {
        let segment = round_up(config.segment.max(PAGE), PAGE);
        let name = "multiproc-queue";
        let first_len = HEADER_LEN + segment;
        let mut map_len = config.map_len.max(first_len + PAGE);
        let region = loop {
            match Mapping::growable(name, first_len, map_len) {
                Ok(r) => break r,
                Err(e) if map_len / 2 >= MIN_MAP_LEN.max(first_len + PAGE) => {
                    log::debug!(target: "multiproc", "queue reservation of {map_len} bytes refused ({e}); trying half");
                    map_len /= 2;
                }
                Err(e) => return Err(e),
            }
        };
        let r = Ring {
            map: region,
            maxsize: config.maxsize,
            joinable: config.joinable,
            segment,
        };
        let h = |off| r.map.u64_at(off);
        h(H_FLAGS).store(
            u64::from(config.joinable) * FLAG_JOINABLE,
            Ordering::Relaxed,
        );
        h(H_MAP_LEN).store(map_len as u64, Ordering::Relaxed);
        h(H_SEGMENT).store(segment as u64, Ordering::Relaxed);
        h(H_MAXSIZE).store(config.maxsize, Ordering::Relaxed);
        h(H_TAIL).store(pack(HEADER_LEN, 0), Ordering::Relaxed);
        h(H_HEAD).store(pack(HEADER_LEN, 0), Ordering::Relaxed);
        h(H_FILE_END).store(first_len as u64, Ordering::Relaxed);
        r.map
            .u64_at(HEADER_LEN + S_SIZE)
            .store(segment as u64, Ordering::Relaxed);
        h(H_MAGIC).store(MAGIC, Ordering::Release);
        Ok(r)
    }

    /// Maps a ring created elsewhere, from its memfd and the mapping length it was made with.
    pub(crate) fn attach(fd: OwnedFd, map_len: u64) -> io::Result<Ring> {
        let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
        let map_len = usize::try_from(map_len).map_err(|_| bad("mapping length too large"))?;
        if map_len < HEADER_LEN + PAGE {
            return Err(bad("mapping length too small for a queue"));
        }
        let region = Mapping::attach_growable(fd, map_len)?;
        if region.file_len()? < HEADER_LEN + PAGE {
            return Err(bad("the descriptor is not a queue"));
        }
        let h = |off| region.u64_at(off).load(Ordering::Acquire);
        if h(H_MAGIC) != MAGIC || h(H_MAP_LEN) != map_len as u64 {
            return Err(bad("the descriptor is not a queue of this version"));
        }
        let (maxsize, joinable, segment) = (
            h(H_MAXSIZE),
            h(H_FLAGS) & FLAG_JOINABLE != 0,
            h(H_SEGMENT) as usize,
        );
        Ok(Ring {
            map: region,
            maxsize,
            joinable,
            segment,
        })
    }

    /// The memfd, to send to another process.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.map.as_fd()
    }

    /// The mapping length, which another process needs to attach.
    pub(crate) fn map_len(&self) -> u64 {
        self.map.len() as u64
    }

    /// The most records it holds (0: no limit).
    pub(crate) fn maxsize(&self) -> u64 {
        self.maxsize
    }

    fn h64(&self, off: usize) -> &AtomicU64 {
        self.map.u64_at(off)
    }

    fn h32(&self, off: usize) -> &AtomicU32 {
        self.map.u32_at(off)
    }

    /// How many records it holds (a snapshot; other processes may change it at once).
    pub(crate) fn len(&self) -> u64 {
        let gets = self.h64(H_GETS).load(Ordering::Acquire);
        let puts = self.h64(H_PUTS).load(Ordering::Acquire);
        puts.saturating_sub(gets)
    }

    /// The sequence word that is bumped and woken when `what` may have come, and the count
    /// of sleepers that makes the ring wake it (for the async API, whose tasks sleep through
    /// the futex waker instead of in [`wait_until`]).
    #[cfg(feature = "tokio")]
    pub(crate) fn wait_words(&self, what: Awaited) -> (&AtomicU32, &AtomicU32) {
        match what {
            Awaited::Item => (self.h32(H_PUT_SEQ), self.h32(H_PUT_SLEEPERS)),
            Awaited::Room => (self.h32(H_GET_SEQ), self.h32(H_GET_SLEEPERS)),
            Awaited::AllDone => (self.h32(H_DONE_SEQ), self.h32(H_DONE_SLEEPERS)),
        }
    }

    fn full(&self) -> bool {
        self.maxsize != 0 && self.len() >= self.maxsize
    }

    // ----- producers -----

    /// Appends a record holding `payload`, waiting for room in a bounded ring until
    /// `deadline` (`None`: no limit).
    pub(crate) fn push(&self, payload: &[u8], deadline: Option<Instant>) -> Result<(), PushError> {
        self.push_with(payload, deadline, || Ok(()))
    }

    /// Like [`push`](Ring::push), calling `before` under the producer lock just before the
    /// record is written and published (to send what travels beside it, in record order). If
    /// `before` fails, nothing is written.
    pub(crate) fn push_with(
        &self,
        payload: &[u8],
        deadline: Option<Instant>,
        mut before: impl FnMut() -> io::Result<()>,
    ) -> Result<(), PushError> {
        loop {
            let guard = self.lock_tail(deadline).ok_or(PushError::Full)?;
            if !self.full() {
                let result = before()
                    .map_err(PushError::Io)
                    .and_then(|()| self.append(payload));
                drop(guard);
                if result.is_ok() {
                    fence(Ordering::SeqCst);
                    notify(self.h32(H_PUT_SEQ), self.h32(H_PUT_SLEEPERS), 1);
                }
                return result;
            }
            drop(guard);
            let room = || !self.full();
            if !wait_until(
                self.h32(H_GET_SEQ),
                self.h32(H_GET_SLEEPERS),
                room,
                deadline,
            ) {
                return Err(PushError::Full);
            }
        }
    }

    /// Writes one record at the tail and publishes it. Holds the producer lock.
    fn append(&self, payload: &[u8]) -> Result<(), PushError> {
        let rec = record_len(payload.len());
        let index = self.h64(H_PUTS).load(Ordering::Relaxed);
        let (seg, off) = unpack(self.h64(H_TAIL).load(Ordering::Relaxed));
        let size = self.seg_size(seg);
        let here = seg + SEG_HEADER + off;
        if SEG_HEADER + off + rec + JUMP_LEN <= size {
            self.count_task();
            self.write_record(here, payload, index);
            self.h64(H_PUTS).store(index + 1, Ordering::Release);
            self.h64(H_TAIL)
                .store(pack(seg, off + rec), Ordering::Relaxed);
            return Ok(());
        }
        let new = self
            .alloc(SEG_HEADER + rec + JUMP_LEN)
            .map_err(PushError::Io)?;
        self.count_task();
        self.write_record(new + SEG_HEADER, payload, index);
        // The jump: target, kind, then the tag that makes it valid.
        self.map
            .u64_at(here + 16)
            .store(new as u64, Ordering::Relaxed);
        self.map.u64_at(here).store(JUMP, Ordering::Relaxed);
        self.map
            .u64_at(here + 8)
            .store(index + 1, Ordering::Release);
        self.h64(H_PUTS).store(index + 1, Ordering::Release);
        self.h64(H_TAIL).store(pack(new, rec), Ordering::Relaxed);
        Ok(())
    }

    fn count_task(&self) {
        if self.joinable {
            self.h64(H_UNFINISHED).fetch_add(1, Ordering::SeqCst);
        }
    }

    fn seg_size(&self, seg: usize) -> usize {
        self.map.u64_at(seg + S_SIZE).load(Ordering::Relaxed) as usize
    }

    fn write_record(&self, at: usize, payload: &[u8], index: u64) {
        // SAFETY: `at` lies in the tail segment, inside the file, past every published record;
        // the producer lock (held by our caller) reserves it, and no consumer reads it before
        // `puts` says it is published.
        unsafe { self.map.copy_in(at + REC_HEADER, payload) };
        self.map
            .u64_at(at)
            .store(payload.len() as u64, Ordering::Relaxed);
        self.map.u64_at(at + 8).store(index + 1, Ordering::Release);
    }

    fn lock_tail(&self, deadline: Option<Instant>) -> Option<Held<'_>> {
        let word = self.h32(H_TAIL_LOCK);
        let recovered = lock(word, lock_deadline(deadline))?;
        if recovered {
            self.repair_tail();
        }
        Some(Held(word))
    }

    /// After a producer died holding the lock: finish publishing a record it wrote whole,
    /// and move the cursor past a record it published; anything else it wrote is overwritten.
    fn repair_tail(&self) {
        log::warn!(target: "multiproc", "a queue producer died while putting; recovering");
        for _ in 0..2 {
            let puts = self.h64(H_PUTS).load(Ordering::Relaxed);
            let (seg, off) = unpack(self.h64(H_TAIL).load(Ordering::Relaxed));
            if SEG_HEADER + off + JUMP_LEN > self.seg_size(seg) {
                return;
            }
            let at = seg + SEG_HEADER + off;
            let len = self.map.u64_at(at).load(Ordering::Relaxed);
            let tag = self.map.u64_at(at + 8).load(Ordering::Acquire);
            if tag == puts + 1 {
                self.h64(H_PUTS).store(puts + 1, Ordering::Release);
            } else if !(puts > 0 && tag == puts) {
                return;
            }
            let next = if len == JUMP {
                let target = self.map.u64_at(at + 16).load(Ordering::Relaxed) as usize;
                let first = self.map.u64_at(target + SEG_HEADER).load(Ordering::Relaxed);
                pack(target, record_len(first as usize))
            } else {
                pack(seg, off + record_len(len as usize))
            };
            self.h64(H_TAIL).store(next, Ordering::Relaxed);
        }
    }

    // ----- consumers -----

    /// Takes the oldest record, waiting for one until `deadline` (`None`: no limit), and hands
    /// its payload to `f` while it is still in shared memory. The record is consumed even if
    /// `f` panics.
    pub(crate) fn pop<R>(
        &self,
        deadline: Option<Instant>,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, PopError> {
        loop {
            let guard = self.lock_head(deadline).ok_or(PopError::Empty)?;
            let gets = self.h64(H_GETS).load(Ordering::Relaxed);
            if self.h64(H_PUTS).load(Ordering::Acquire) > gets {
                let (seg, off, len) = self.head_record(gets)?;
                let at = seg + SEG_HEADER + off;
                let taken = Taken {
                    ring: self,
                    gets,
                    next: pack(seg, off + record_len(len)),
                    _held: guard,
                };
                // SAFETY: the record at `at` was published (puts > gets, loaded with acquire),
                // lies inside the file, and no producer writes it again until consumers have
                // moved past it; the consumer lock (in `taken`) keeps other consumers out.
                let payload = unsafe { self.map.bytes(at + REC_HEADER, len) };
                let result = f(payload);
                drop(taken);
                return Ok(result);
            }
            drop(guard);
            let ready = || self.h64(H_PUTS).load(Ordering::Acquire) > gets;
            if !wait_until(
                self.h32(H_PUT_SEQ),
                self.h32(H_PUT_SLEEPERS),
                ready,
                deadline,
            ) {
                return Err(PopError::Empty);
            }
        }
    }

    /// The record with index `gets` at the head (following a jump), as (segment, offset,
    /// length).
    fn head_record(&self, gets: u64) -> Result<(usize, usize, usize), PopError> {
        for _ in 0..2 {
            let (seg, off) = unpack(self.h64(H_HEAD).load(Ordering::Relaxed));
            let at = seg + SEG_HEADER + off;
            let tag = self.map.u64_at(at + 8).load(Ordering::Acquire);
            let len = self.map.u64_at(at).load(Ordering::Relaxed);
            if tag != gets + 1 {
                return Err(PopError::Corrupt(format!(
                    "record {gets} expected, found tag {tag}"
                )));
            }
            if len != JUMP {
                return Ok((seg, off, len as usize));
            }
            let target = self.map.u64_at(at + 16).load(Ordering::Relaxed) as usize;
            // Move first, then free: a death in between leaks the segment, never frees it twice.
            self.h64(H_HEAD).store(pack(target, 0), Ordering::Relaxed);
            self.free(seg);
        }
        Err(PopError::Corrupt("a jump leads to a jump".into()))
    }

    fn lock_head(&self, deadline: Option<Instant>) -> Option<Held<'_>> {
        let word = self.h32(H_HEAD_LOCK);
        let recovered = lock(word, lock_deadline(deadline))?;
        if recovered {
            self.repair_head();
        }
        Some(Held(word))
    }

    /// After a consumer died holding the lock: if it counted its record as taken but did not
    /// move past it, move past it.
    fn repair_head(&self) {
        log::warn!(target: "multiproc", "a queue consumer died while getting; recovering");
        let gets = self.h64(H_GETS).load(Ordering::Relaxed);
        let (seg, off) = unpack(self.h64(H_HEAD).load(Ordering::Relaxed));
        let at = seg + SEG_HEADER + off;
        let tag = self.map.u64_at(at + 8).load(Ordering::Acquire);
        let len = self.map.u64_at(at).load(Ordering::Relaxed);
        if gets > 0 && tag == gets && len != JUMP {
            self.h64(H_HEAD)
                .store(pack(seg, off + record_len(len as usize)), Ordering::Relaxed);
        }
    }

    // ----- segments -----

    /// A segment of at least `need` bytes: a free one, or new space at the end of the file.
    fn alloc(&self, need: usize) -> io::Result<usize> {
        let need = round_up(need.max(self.segment), PAGE);
        if need > u32::MAX as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a queue item must encode to less than 4 GiB",
            ));
        }
        let word = self.h32(H_ALLOC_LOCK);
        lock(word, None);
        let _held = Held(word);
        let mut prev: Option<usize> = None;
        let mut cur = self.h64(H_FREE_HEAD).load(Ordering::Relaxed) as usize;
        for _ in 0..FREE_SCAN {
            if cur == 0 {
                break;
            }
            let size = self.map.u64_at(cur + S_SIZE).load(Ordering::Relaxed) as usize;
            let next = self.map.u64_at(cur + S_FREE_NEXT).load(Ordering::Relaxed);
            if size >= need {
                match prev {
                    None => self.h64(H_FREE_HEAD).store(next, Ordering::Relaxed),
                    Some(p) => self
                        .map
                        .u64_at(p + S_FREE_NEXT)
                        .store(next, Ordering::Relaxed),
                }
                let kept = self.h64(H_FREE_BYTES).load(Ordering::Relaxed);
                self.h64(H_FREE_BYTES)
                    .store(kept.saturating_sub(size as u64), Ordering::Relaxed);
                return Ok(cur);
            }
            prev = Some(cur);
            cur = next as usize;
        }
        let start = self.h64(H_FILE_END).load(Ordering::Relaxed) as usize;
        let end = start + need;
        self.map.set_file_len(end)?;
        self.h64(H_FILE_END).store(end as u64, Ordering::Relaxed);
        self.map
            .u64_at(start + S_SIZE)
            .store(need as u64, Ordering::Relaxed);
        Ok(start)
    }

    /// Puts a consumed segment on the free list, giving its memory back past a budget.
    fn free(&self, seg: usize) {
        let word = self.h32(H_ALLOC_LOCK);
        lock(word, None);
        let _held = Held(word);
        let size = self.map.u64_at(seg + S_SIZE).load(Ordering::Relaxed);
        let kept = self.h64(H_FREE_BYTES).load(Ordering::Relaxed);
        if kept + size > KEEP_FREE {
            self.map.discard(seg + PAGE, size as usize - PAGE);
        } else {
            self.h64(H_FREE_BYTES).store(kept + size, Ordering::Relaxed);
        }
        let head = self.h64(H_FREE_HEAD).load(Ordering::Relaxed);
        self.map
            .u64_at(seg + S_FREE_NEXT)
            .store(head, Ordering::Relaxed);
        self.h64(H_FREE_HEAD).store(seg as u64, Ordering::Relaxed);
    }

    // ----- unfinished tasks -----

    /// Marks one task done. `false` if none was unfinished.
    pub(crate) fn task_done(&self) -> bool {
        let unfinished = self.h64(H_UNFINISHED);
        let mut n = unfinished.load(Ordering::SeqCst);
        loop {
            if n == 0 {
                return false;
            }
            match unfinished.compare_exchange(n, n - 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => break,
                Err(now) => n = now,
            }
        }
        if n == 1 {
            notify(self.h32(H_DONE_SEQ), self.h32(H_DONE_SLEEPERS), u32::MAX);
        }
        true
    }

    /// How many tasks were put and not marked done.
    pub(crate) fn unfinished(&self) -> u64 {
        self.h64(H_UNFINISHED).load(Ordering::SeqCst)
    }

    /// Waits until no task is unfinished, or `deadline`. `false` if the deadline passed.
    pub(crate) fn join(&self, deadline: Option<Instant>) -> bool {
        wait_until(
            self.h32(H_DONE_SEQ),
            self.h32(H_DONE_SLEEPERS),
            || self.unfinished() == 0,
            deadline,
        )
    }
}

/// A held lock, released on drop.
struct Held<'a>(&'a AtomicU32);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        raw_lock::unlock(self.0);
    }
}

/// A record being taken: on drop (also when the consumer's code panics), moves the head past
/// it, counts it, releases the consumer lock and wakes a producer waiting for room.
struct Taken<'a> {
    ring: &'a Ring,
    gets: u64,
    next: u64,
    _held: Held<'a>,
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        let r = self.ring;
        r.h64(H_GETS).store(self.gets + 1, Ordering::Release);
        r.h64(H_HEAD).store(self.next, Ordering::Relaxed);
        if r.maxsize != 0 {
            fence(Ordering::SeqCst);
            notify(r.h32(H_GET_SEQ), r.h32(H_GET_SLEEPERS), 1);
        }
    }
}

/// Takes a ring lock for the calling thread, waiting until `deadline` at most (`None`: no
/// limit). `Some(true)` if its holder had died and the lock was taken over from it (the caller
/// must repair what it protects), `Some(false)` for a plain acquisition, `None` if the deadline
/// passed first.
fn lock(word: &AtomicU32, deadline: Option<Instant>) -> Option<bool> {
    raw_lock::lock(word, owner::thread_word(), deadline)
        .map(|taken| matches!(taken, raw_lock::Taken::HolderDied(_)))
}

fn lock_deadline(deadline: Option<Instant>) -> Option<Instant> {
    deadline.map(|d| d.max(Instant::now() + LOCK_GRACE))
}

/// Wakes up to `n` sleepers on `seq` if there are any.
fn notify(seq: &AtomicU32, sleepers: &AtomicU32, n: u32) {
    if sleepers.load(Ordering::SeqCst) > 0 {
        seq.fetch_add(1, Ordering::SeqCst);
        futex::wake(seq, n);
    }
}

/// Waits until `ready()`, spinning briefly and then sleeping on `seq`, until `deadline`.
/// Returns `false` if the deadline passed first.
fn wait_until(
    seq: &AtomicU32,
    sleepers: &AtomicU32,
    ready: impl Fn() -> bool,
    deadline: Option<Instant>,
) -> bool {
    let start = Instant::now();
    let spin_until = deadline.map_or(start + SPIN, |d| d.min(start + SPIN));
    let mut i = 0u32;
    loop {
        if ready() {
            return true;
        }
        i = i.wrapping_add(1);
        if i.is_multiple_of(64) && Instant::now() >= spin_until {
            break;
        }
        std::hint::spin_loop();
    }
    loop {
        sleepers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let s = seq.load(Ordering::SeqCst);
        if ready() {
            sleepers.fetch_sub(1, Ordering::SeqCst);
            return true;
        }
        let woke = futex::wait(seq, s, deadline) != Wake::TimedOut;
        sleepers.fetch_sub(1, Ordering::SeqCst);
        if ready() {
            return true;
        }
        if !woke || deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(maxsize: u64, segment: usize) -> Ring {
        Ring::create(RingConfig {
            maxsize,
            joinable: false,
            segment,
            map_len: 256 << 20,
        })
        .unwrap()
    }

    fn pop(r: &Ring) -> Option<Vec<u8>> {
        r.pop(Some(Instant::now()), |b| b.to_vec()).ok()
    }

    #[test]
    fn fifo_across_segments_and_jumps() {
        let r = ring(0, PAGE);
        for i in 0..2000u32 {
            let payload = vec![i as u8; (i % 300) as usize];
            r.push(&payload, None).unwrap();
        }
        assert_eq!(r.len(), 2000);
        for i in 0..2000u32 {
            assert_eq!(pop(&r).unwrap(), vec![i as u8; (i % 300) as usize]);
        }
        assert!(pop(&r).is_none());
        // Freed segments are reused: the file did not grow for a second round.
        let end = r.h64(H_FILE_END).load(Ordering::Relaxed);
        for i in 0..2000u32 {
            r.push(&[i as u8; 100], None).unwrap();
            pop(&r).unwrap();
        }
        assert!(r.h64(H_FILE_END).load(Ordering::Relaxed) <= end);
    }

    #[test]
    fn big_record_gets_its_own_segment() {
        let r = ring(0, PAGE);
        let big = vec![9u8; 1 << 20];
        r.push(b"a", None).unwrap();
        r.push(&big, None).unwrap();
        r.push(b"b", None).unwrap();
        assert_eq!(pop(&r).unwrap(), b"a");
        assert_eq!(pop(&r).unwrap(), big);
        assert_eq!(pop(&r).unwrap(), b"b");
    }

    #[test]
    fn bounded_and_attach() {
        let r = ring(2, PAGE);
        r.push(b"1", None).unwrap();
        r.push(b"2", None).unwrap();
        assert!(matches!(
            r.push(b"3", Some(Instant::now())),
            Err(PushError::Full)
        ));
        let other = Ring::attach(r.fd().try_clone_to_owned().unwrap(), r.map_len()).unwrap();
        assert_eq!(other.maxsize(), 2);
        assert_eq!(pop(&other).unwrap(), b"1");
        r.push(b"3", Some(Instant::now())).unwrap();
        assert_eq!(pop(&r).unwrap(), b"2");
        assert_eq!(pop(&other).unwrap(), b"3");
    }

    #[test]
    fn attach_refuses_other_descriptors() {
        let f = tempfile::tempfile().unwrap();
        f.set_len(1 << 20).unwrap();
        assert!(Ring::attach(f.into(), 1 << 20).is_err());
    }

    #[test]
    fn panic_in_reader_consumes_the_record() {
        let r = ring(0, PAGE);
        r.push(b"x", None).unwrap();
        r.push(b"y", None).unwrap();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            r.pop(None, |_| panic!("reader fails"))
        }));
        assert!(caught.is_err());
        assert_eq!(pop(&r).unwrap(), b"y");
    }

    #[test]
    fn threads_deliver_each_record_once() {
        let r = std::sync::Arc::new(ring(64, PAGE));
        let producers: Vec<_> = (0..4u32)
            .map(|p| {
                let r = r.clone();
                std::thread::spawn(move || {
                    for i in 0..5000u32 {
                        r.push(&(p * 10_000 + i).to_le_bytes(), None).unwrap();
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let r = r.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    let give_up = || Some(Instant::now() + Duration::from_millis(500));
                    while let Ok(v) =
                        r.pop(give_up(), |b| u32::from_le_bytes(b.try_into().unwrap()))
                    {
                        got.push(v);
                    }
                    got
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        let mut all: Vec<u32> = consumers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        all.sort_unstable();
        let expected: Vec<u32> = (0..4u32)
            .flat_map(|p| (0..5000).map(move |i| p * 10_000 + i))
            .collect();
        assert_eq!(all, expected);
    }

    /// The owner word of a thread that has ended.
    fn dead_tid() -> u32 {
        std::thread::spawn(owner::thread_word).join().unwrap()
    }

    #[test]
    fn consumer_dead_holding_the_lock_is_recovered() {
        let r = ring(0, PAGE);
        r.push(b"a", None).unwrap();
        r.push(b"b", None).unwrap();
        // A consumer that counted "a" as taken and died before moving past it.
        r.h64(H_GETS).store(1, Ordering::SeqCst);
        r.h32(H_HEAD_LOCK).store(dead_tid(), Ordering::SeqCst);
        let deadline = Some(Instant::now() + Duration::from_secs(5));
        assert_eq!(r.pop(deadline, |b| b.to_vec()).unwrap(), b"b");
        assert!(pop(&r).is_none());
    }

    /// The ring's lock held a bare thread id: a holder that died while its id went to a new
    /// thread or process looked alive, and the queue stayed wedged.
    #[test]
    fn a_reused_holder_id_does_not_hide_a_death() {
        let r = ring(0, PAGE);
        r.push(b"a", None).unwrap();
        // Our own id, alive, under another start time: a dead holder whose id was reused.
        let reused = owner::process_word() ^ (1 << 22);
        r.h32(H_HEAD_LOCK).store(reused, Ordering::SeqCst);
        r.h32(H_TAIL_LOCK).store(reused, Ordering::SeqCst);
        let t0 = Instant::now();
        let deadline = Some(t0 + Duration::from_secs(5));
        r.push(b"b", deadline).unwrap();
        assert_eq!(r.pop(deadline, |b| b.to_vec()).unwrap(), b"a");
        assert_eq!(pop(&r).unwrap(), b"b");
        assert!(t0.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn producer_dead_holding_the_lock_is_recovered() {
        let r = ring(0, PAGE);
        r.push(b"a", None).unwrap();
        // A producer that wrote "b" whole and died before publishing it.
        let (seg, off) = unpack(r.h64(H_TAIL).load(Ordering::SeqCst));
        r.write_record(seg + SEG_HEADER + off, b"b", 1);
        r.h32(H_TAIL_LOCK).store(dead_tid(), Ordering::SeqCst);
        r.push(b"c", Some(Instant::now() + Duration::from_secs(5)))
            .unwrap();
        assert_eq!(pop(&r).unwrap(), b"a");
        assert_eq!(pop(&r).unwrap(), b"b");
        assert_eq!(pop(&r).unwrap(), b"c");
        // One that published "d" and died before moving its cursor.
        let (seg, off) = unpack(r.h64(H_TAIL).load(Ordering::SeqCst));
        r.write_record(seg + SEG_HEADER + off, b"d", 3);
        r.h64(H_PUTS).store(4, Ordering::SeqCst);
        r.h32(H_TAIL_LOCK).store(dead_tid(), Ordering::SeqCst);
        r.push(b"e", None).unwrap();
        assert_eq!(pop(&r).unwrap(), b"d");
        assert_eq!(pop(&r).unwrap(), b"e");
        assert!(pop(&r).is_none());
    }
}
