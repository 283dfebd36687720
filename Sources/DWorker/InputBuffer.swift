#if canImport(Glibc)
    internal import Glibc
#endif

/// A connection's received bytes: a growable raw buffer. Requests are parsed in place; the
/// buffer only moves when it is compacted between requests or grown, never while an
/// application holds a pointer into a request head.
final class InputBuffer {
    @exclusivity(unchecked) private(set) var base: UnsafeMutableRawPointer
    @exclusivity(unchecked) private(set) var capacity: Int
    @exclusivity(unchecked) var count = 0

    /// Stands for "no memory" after `release()`.
    nonisolated(unsafe) static let none = malloc(1)!
    static let initialCapacity = 4096
    /// One block of `initialCapacity` kept by the worker (its loop is the only user) for the
    /// next connection that reads: a keep-alive connection releases its buffer after every
    /// response and reserves one at the next request, a closed connection's goes here too, and
    /// a 4 KiB block is past malloc's per-thread cache, so each round trip through malloc cost
    /// several hundred instructions.
    nonisolated(unsafe) static var spare: UnsafeMutableRawPointer? = nil
    /// One larger block (a request body's, up to `largeSpareLimit`), kept the same way for the
    /// next body that needs it: malloc returns a freed block of that size to the system, and
    /// the next request's faulted every page in again (a 64 KiB POST on a new connection cost a
    /// `brk` every other request and 17 page faults).
    nonisolated(unsafe) static var largeSpare: (block: UnsafeMutableRawPointer, capacity: Int)? = nil
    static let largeSpareLimit = 256 * 1024

    init() {
        capacity = 0
        base = Self.none
    }

    deinit {
        count = 0
        release()
    }

    /// Makes room for at least `total` bytes in all.
    func reserve(_ total: Int) {
        guard total > capacity else { return }
        var newCapacity = max(capacity, Self.initialCapacity)
        while newCapacity < total { newCapacity *= 2 }
        if capacity == 0, newCapacity == Self.initialCapacity, let block = Self.spare {
            Self.spare = nil
            base = block
        } else if newCapacity > Self.initialCapacity, let large = Self.largeSpare, large.capacity >= newCapacity {
            Self.largeSpare = nil
            if capacity > 0 {
                memcpy(large.block, base, count)
                giveBack(base, capacity)
            }
            base = large.block
            newCapacity = large.capacity
        } else {
            base = capacity == 0 ? malloc(newCapacity)! : realloc(base, newCapacity)!
        }
        capacity = newCapacity
    }

    /// Gives the memory back while the buffer is empty (an idle connection then costs little);
    /// the next read allocates again.
    func release() {
        guard count == 0 && capacity > 0 else { return }
        giveBack(base, capacity)
        base = Self.none
        capacity = 0
    }

    /// A block this buffer no longer uses: kept as a spare when there is room for it, else freed.
    private func giveBack(_ block: UnsafeMutableRawPointer, _ size: Int) {
        if size == Self.initialCapacity && Self.spare == nil {
            Self.spare = block
        } else if size > Self.initialCapacity && size <= Self.largeSpareLimit
            && (Self.largeSpare?.capacity ?? 0) < size
        {
            if let old = Self.largeSpare { free(old.block) }
            Self.largeSpare = (block, size)
        } else {
            free(block)
        }
    }

    /// Drops the first `n` bytes.
    func removePrefix(_ n: Int) {
        guard n > 0 else { return }
        if n < count { memmove(base, base + n, count - n) }
        count -= n
    }

    /// Drops the bytes in `range`, moving the rest down.
    func removeRange(_ range: Range<Int>) {
        guard !range.isEmpty else { return }
        if range.upperBound < count {
            memmove(base + range.lowerBound, base + range.upperBound, count - range.upperBound)
        }
        count -= range.count
    }

    /// Copies the bytes in `range` to `offset` (the two may overlap).
    func move(_ range: Range<Int>, to offset: Int) {
        guard offset != range.lowerBound, !range.isEmpty else { return }
        memmove(base + offset, base + range.lowerBound, range.count)
    }

    /// Overwrites the bytes at `offset` (within `count`) with `bytes`.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        precondition(offset + bytes.count <= count)
        memcpy(base + offset, bytes.baseAddress!, bytes.count)
    }

    func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    var freeSpace: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: base + count, count: capacity - count)
    }
}
