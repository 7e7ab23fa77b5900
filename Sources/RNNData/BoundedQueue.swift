import Foundation

/// A FIFO with a capacity, for a producer thread handing work to consumers:
/// when it is full the producer does the work itself instead of buffering the
/// whole input.
final class BoundedQueue<Element> {
    private var items: [Element] = []
    private var head = 0
    private var closed = false
    private let capacity: Int
    private let condition = NSCondition()

    init(capacity: Int) { self.capacity = capacity }

    /// Appends `item` unless the queue is full (then the caller can do the
    /// work itself instead of waiting for a consumer).
    func tryPush(_ item: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard items.count - head < capacity || closed else { return false }
        if !closed { items.append(item) }
        condition.broadcast()
        return true
    }

    /// The next item, or nil once the queue is closed and drained.
    func pop() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while head == items.count && !closed { condition.wait() }
        guard head < items.count else { return nil }
        let item = items[head]
        head += 1
        // Popped items are dropped a capacity's worth at a time: kept longer, they would hold up to
        // that many batches of texts beyond the bound (85 MB of IMDB reviews at 1,024).
        if head >= capacity { items.removeFirst(head); head = 0 }
        condition.broadcast()
        return item
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
