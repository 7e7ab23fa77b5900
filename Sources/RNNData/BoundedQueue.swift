import Foundation

/// A blocking FIFO with a capacity, for a producer thread handing work to a
/// consumer: the producer stalls instead of buffering the whole input.
final class BoundedQueue<Element> {
    private var items: [Element] = []
    private var head = 0
    private var closed = false
    private let capacity: Int
    private let condition = NSCondition()

    init(capacity: Int) { self.capacity = capacity }

    func push(_ item: Element) {
        condition.lock()
        while items.count - head >= capacity && !closed { condition.wait() }
        if !closed { items.append(item) }
        condition.broadcast()
        condition.unlock()
    }

    /// The next item, or nil once the queue is closed and drained.
    func pop() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while head == items.count && !closed { condition.wait() }
        guard head < items.count else { return nil }
        let item = items[head]
        head += 1
        if head > 1024 { items.removeFirst(head); head = 0 }
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
