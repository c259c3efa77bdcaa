/// The operations of one base: how a single node value changes the view, or why it is refused.
/// Must be deterministic (no clocks, no randomness, no I/O).
public protocol ViewOperations: Sendable {
  /// Applies `value` (one node of `batch`) to `store`; may change the writer set through `context`.
  func apply(
    _ value: [UInt8], of batch: AutobaseBatch, to store: inout ViewStore, context: inout AutobaseContext
  ) -> ApplyOutcome
}

/// An `AutobaseApplier` that applies each value of a batch with `Operations` to a `ViewStore`; a
/// refused value refuses the whole batch (the linearizer rolls its partial writes back).
public struct ViewApplier<Operations: ViewOperations>: AutobaseApplier, Sendable {
  /// The view.
  public private(set) var store: ViewStore
  /// The base's operations.
  public let operations: Operations

  /// An applier over an empty view.
  public init(operations: Operations, recordsChanges: Bool = true) {
    self.operations = operations
    self.store = ViewStore(recordsChanges: recordsChanges)
  }

  /// Applies every value of `batch` in order; stops at the first refusal.
  public mutating func apply(_ batch: AutobaseBatch, context: inout AutobaseContext) -> ApplyOutcome {
    store.position = batch.position
    for value in batch.values where !value.isEmpty {
      let outcome = operations.apply(value, of: batch, to: &store, context: &context)
      if case .rejected = outcome { return outcome }
    }
    return .applied
  }

  /// Undoes the writes of positions at or after `position`.
  public mutating func rollback(to position: Int) { store.rollback(to: position) }

  /// Forgets undo records before `position`.
  public mutating func finalize(upTo position: Int) { store.finalize(upTo: position) }

  /// Returns and clears the collected changes.
  public mutating func takeChanges() -> [ViewChange] { store.takeChanges() }
}
