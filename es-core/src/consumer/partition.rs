//! Partitions of a consumer: which events a partition owns (the stable
//! hash of a stream id), the names its checkpoint and lease are kept
//! under, and the client-side partition read every store starts from.

use md5::{Digest, Md5};

use crate::envelope::RecordedEvent;
use crate::store::{EventStore, ReadAllPage, StoreError};

/// The partition hash of a stream id: the first four bytes of the MD5
/// digest of its UTF-8 bytes, read as a big-endian `u32`.
///
/// An event belongs to partition `partition_hash(stream_id) % count`. The
/// hash is part of the stored state of every partitioned consumer (its
/// checkpoints are per partition), so it never changes across versions of
/// the framework; a test pins its values. MD5 is used for its
/// availability, not its strength: PostgreSQL computes the same value in
/// SQL, `('x' || substr(md5(stream_id), 1, 8))::bit(32)::bigint`, which
/// lets the store filter a partition's events before sending them.
///
/// ```
/// use es_core::consumer::partition_hash;
///
/// assert_eq!(partition_hash("Order-1"), 0x3d47_dcf6);
/// assert_eq!(partition_hash("Order-1") % 4, 2);
/// ```
pub fn partition_hash(stream_id: &str) -> u32 {
    let digest = Md5::digest(stream_id.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// One of the `count` partitions of a consumer: it owns the events of the
/// streams whose [`partition_hash`] is `index` modulo `count`, so every
/// event belongs to exactly one partition and a stream's events all to the
/// same one (per-stream order holds).
///
/// Partition `index` of `count` keeps its checkpoint, lease and dead
/// letters under [`Partition::key`] of the consumer's name,
/// `{name}#{index}/{count}`; the count itself is recorded under
/// [`Partition::layout_key`], `{name}#partitions`, and an engine started
/// with another count is refused
/// ([`ProjectionError::PartitionsChanged`](crate::projection::ProjectionError::PartitionsChanged)).
///
/// ```
/// use es_core::consumer::Partition;
///
/// let p = Partition::new(2, 4).unwrap();
/// assert!(p.owns("Order-1"));
/// assert_eq!(p.key("orders"), "orders#2/4");
/// assert_eq!(Partition::of("Order-1", 4), p);
/// assert_eq!(Partition::all(4).count(), 4);
/// assert!(Partition::new(4, 4).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    index: u32,
    count: u32,
}

impl Partition {
    /// Partition `index` of `count`; `None` unless `index < count`.
    ///
    /// ```
    /// assert!(es_core::consumer::Partition::new(0, 1).is_some());
    /// assert!(es_core::consumer::Partition::new(0, 0).is_none());
    /// ```
    pub fn new(index: u32, count: u32) -> Option<Self> {
        (index < count).then_some(Self { index, count })
    }

    /// The partition of `count` that owns `stream_id`'s events (`count`
    /// of 0 counts as 1).
    ///
    /// ```
    /// use es_core::consumer::Partition;
    /// assert_eq!(Partition::of("Order-7", 1).index(), 0);
    /// ```
    pub fn of(stream_id: &str, count: u32) -> Self {
        let count = count.max(1);
        Self {
            index: partition_hash(stream_id) % count,
            count,
        }
    }

    /// Every partition of `count`, in order.
    ///
    /// ```
    /// let all: Vec<_> = es_core::consumer::Partition::all(3).map(|p| p.index()).collect();
    /// assert_eq!(all, [0, 1, 2]);
    /// ```
    pub fn all(count: u32) -> impl Iterator<Item = Self> {
        (0..count).map(move |index| Self { index, count })
    }

    /// Its index, below [`Partition::count`].
    ///
    /// ```
    /// assert_eq!(es_core::consumer::Partition::new(1, 2).unwrap().index(), 1);
    /// ```
    pub fn index(&self) -> u32 {
        self.index
    }

    /// How many partitions the consumer has.
    ///
    /// ```
    /// assert_eq!(es_core::consumer::Partition::new(1, 2).unwrap().count(), 2);
    /// ```
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether this partition owns the events of `stream_id`.
    ///
    /// ```
    /// use es_core::consumer::Partition;
    /// let owners = Partition::all(3).filter(|p| p.owns("Order-9")).count();
    /// assert_eq!(owners, 1);
    /// ```
    pub fn owns(&self, stream_id: &str) -> bool {
        partition_hash(stream_id) % self.count == self.index
    }

    /// The name the partition's checkpoint, lease and dead letters are kept
    /// under: `{name}#{index}/{count}`.
    ///
    /// ```
    /// let p = es_core::consumer::Partition::new(0, 3).unwrap();
    /// assert_eq!(p.key("ledger"), "ledger#0/3");
    /// ```
    pub fn key(&self, name: &str) -> String {
        format!("{name}#{}/{}", self.index, self.count)
    }

    /// The name under which the partition count of consumer `name` is
    /// recorded (as the position of a checkpoint row): `{name}#partitions`.
    ///
    /// ```
    /// assert_eq!(es_core::consumer::Partition::layout_key("ledger"), "ledger#partitions");
    /// ```
    pub fn layout_key(name: &str) -> String {
        format!("{name}#partitions")
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A page of `partition`'s events of `types` after `after_position`, read
/// from `read_all` pages and filtered here: what
/// [`Backend::read_partition`](super::Backend::read_partition) does on a
/// store that cannot filter by partition itself.
///
/// It reads on until it holds `limit` events of the partition or a page
/// comes back short (the store's end, as far as it vouched), so a short
/// result means what a short `read_all` page means and a consumer does not
/// wait for a commit with events still to read. Every event of the other
/// partitions is transferred and dropped: the cost grows with the count.
pub(crate) async fn read_partition_filtered<S: EventStore>(
    store: &S,
    after_position: u64,
    limit: usize,
    types: Option<&[&str]>,
    partition: Partition,
) -> Result<ReadAllPage, StoreError> {
    let mut events: Vec<RecordedEvent> = Vec::new();
    let mut from = after_position;
    loop {
        let want = limit.saturating_sub(events.len());
        if want == 0 {
            let to = events.last().map_or(from, |e| e.global_position);
            return Ok(ReadAllPage::new(events, to));
        }
        let page = match store.read_all(from, limit, types).await {
            Ok(page) => page,
            // What was gathered goes out first; the next read meets the
            // error again at its position.
            Err(_) if !events.is_empty() => return Ok(ReadAllPage::new(events, from)),
            Err(e) => return Err(e),
        };
        let short = page.events.len() < limit;
        let scanned_to = page.scanned_to.max(from);
        for e in page.events {
            if events.len() == limit {
                let to = events.last().map_or(from, |e| e.global_position);
                return Ok(ReadAllPage::new(events, to));
            }
            let position = e.global_position;
            if partition.owns(&e.stream_id) {
                events.push(e);
            }
            from = position;
        }
        from = from.max(scanned_to);
        if short {
            return Ok(ReadAllPage::new(events, from));
        }
    }
}

/// `name`'s checkpoint (kept under `partition`'s key), and the head and
/// lag of `partition`'s events of `types`, counted by reading the
/// partition after the checkpoint: what
/// [`Backend::partition_status`](super::Backend::partition_status) does on a
/// store that cannot count a partition itself. The head is the newest
/// event of the partition after the checkpoint, or the checkpoint when
/// none follows it (a checkpoint is always the position of an event the
/// partition handled, or 0).
pub(crate) async fn partition_status_counted<B: super::Backend>(
    backend: &B,
    name: &str,
    types: Option<&[&str]>,
    partition: Partition,
) -> Result<super::ConsumerStatus, StoreError> {
    const PAGE: usize = 1000;
    let position = backend
        .consumer_status(&partition.key(name), types)
        .await?
        .position;
    let (mut head, mut lag, mut from) = (position, 0u64, position);
    loop {
        let page = backend.read_partition(from, PAGE, types, partition).await?;
        lag += page.events.len() as u64;
        if let Some(last) = page.events.last() {
            head = head.max(last.global_position);
        }
        if page.events.len() < PAGE || page.scanned_to <= from {
            return Ok(super::ConsumerStatus {
                position,
                head,
                lag,
            });
        }
        from = page.scanned_to;
    }
}
